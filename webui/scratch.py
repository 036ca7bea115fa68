"""Scratch space for the app's handlers, pruned as it ages.

Handlers write what they return (reports, exports, audio) to files; Gradio
copies returned files into its own cache (pruned by ``Blocks(delete_cache)``),
so ours are needed only until the handler returns, or for as long as a long
batch run keeps writing. All of it lives under one root, and every new folder
prunes the entries nothing has written to for ``MAX_AGE_S``: a busy server does
not fill its disk with past requests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

MAX_AGE_S = 6 * 3600


def root() -> Path:
    """This user's private folder holding every scratch entry (created on first use).

    The temp folder is shared with every local user: a folder (or symlink) someone else planted under our
    name is refused, never used or pruned.

    Raises:
        RuntimeError: the path exists but is not a private folder of this user.
    """
    path = Path(tempfile.gettempdir()) / f"voicelab-scratch-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{path} is not a private folder of this user (a symlink, another owner, or open "
                           "permissions); remove it so the app can create its own.")
    return path


def new_folder(prefix: str) -> Path:
    """A fresh, private folder under :func:`root`, after pruning stale entries."""
    prune()
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root()))


def prune(max_age_s: float = MAX_AGE_S) -> list[Path]:
    """Delete the entries whose newest file is older than ``max_age_s``; returns what was deleted."""
    deadline, removed = time.time() - max_age_s, []
    for entry in root().iterdir():
        if _newest_mtime(entry) < deadline:
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _newest_mtime(entry: Path) -> float:
    try:
        times = [entry.stat().st_mtime] + [p.stat().st_mtime for p in entry.rglob("*")] if entry.is_dir() else [
            entry.stat().st_mtime]
    except FileNotFoundError:  # another request pruned it meanwhile
        return time.time()
    return max(times)
