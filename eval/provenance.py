"""What produced a batch run's numbers: package versions, machine, command line, date.

Reports print this next to the results so that a number can be traced to the
code and models that made it (model provenance comes from the scorer).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PACKAGES = ("numpy", "scipy", "soundfile", "soxr", "pesq", "pystoi", "jiwer", "torch", "onnxruntime",
            "ctranslate2", "faster-whisper", "transformers", "speechbrain", "resemblyzer", "speechmos",
            "matplotlib")


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each distribution ("not installed" when absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_info(command: Sequence[str], workers: int) -> dict[str, Any]:
    """Provenance of a run started now: date (UTC), command line, workers, Python, machine, packages."""
    return {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(command),
        "workers": workers,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
    }


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or {} when the file does not exist."""
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))
