"""Where Voice Lab keeps what it writes at run time."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The data folder: $VOICELAB_DATA, else <repo>/data (voice library, listening database and audio)."""
    return Path(os.environ.get("VOICELAB_DATA") or REPO_ROOT / "data")
