"""The append-only results.jsonl of a batch run: durable per row, readable after a crash.

Each scored utterance is one JSON line, flushed and fsync'ed before the next
one is written, so killing a run (even with SIGKILL) loses at most the line
being written. Reading tolerates exactly that: a last line without its
newline is cut off and the file is truncated back to the last complete row,
so that ``--resume`` appends cleanly.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from lab.jsonable import to_jsonable

log = logging.getLogger(__name__)


class ResultsLogError(ValueError):
    """results.jsonl is damaged beyond a torn last line; the message names the line."""


def read_results(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """Read every complete row of ``path`` (missing file: no rows).

    Args:
        path: results.jsonl.
        repair: truncate a torn last line from the file (before appending to it).

    Raises:
        ResultsLogError: a line other than the last is not valid JSON.
    """
    if not path.exists():
        return []
    data = path.read_bytes()
    complete_end = data.rfind(b"\n") + 1  # bytes up to and including the last newline
    rows = []
    for number, raw in enumerate(data[:complete_end].splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rows.append(json.loads(raw))
        except json.JSONDecodeError as exc:
            raise ResultsLogError(f"{path} line {number} is not valid JSON ({exc.msg}); "
                                  "the file was edited or damaged: start a new run with another --out.") from None
    if complete_end < len(data):
        log.warning("%s: dropping a partially written last line (%d bytes) from an interrupted run",
                    path, len(data) - complete_end)
        if repair:
            with path.open("r+b") as f:
                f.truncate(complete_end)
                f.flush()
                os.fsync(f.fileno())
    return rows


class ResultsWriter:
    """Appends rows to results.jsonl, durably (flush + fsync per row)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def append(self, row: dict[str, Any]) -> None:
        """Write one row as a JSON line and make it durable before returning."""
        self._file.write(json.dumps(to_jsonable(row), ensure_ascii=False, allow_nan=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and a rename (never half-written)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_jsonable(data), indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
