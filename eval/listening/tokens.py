"""Unguessable identifiers and secrets, stored only as hashes and compared in constant time.

Secrets are 256-bit random values, so a plain SHA-256 digest is enough to
store them (no password stretching is needed for high-entropy tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_id(nbytes: int = 12) -> str:
    """A random URL-safe identifier (``nbytes`` of entropy)."""
    return secrets.token_urlsafe(nbytes)


def new_secret() -> str:
    """A random 256-bit URL-safe secret."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a secret (what the database stores)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str | None, stored_hash: str) -> bool:
    """True when ``secret`` hashes to ``stored_hash`` (constant-time comparison)."""
    if not secret:
        return False
    return hmac.compare_digest(hash_secret(secret), stored_hash)
