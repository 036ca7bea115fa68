"""Batch-evaluation manifests: parse CSV/JSONL, check every path, and say exactly what is wrong.

A manifest lists the utterances of a batch run, one per row, with the columns
``id, system, audio`` and optionally ``reference`` (same-content reference),
``prompt`` (speaker prompt) and ``text`` (expected transcript). Paths are
relative to the manifest's folder and may never leave it.

Two kinds of problems are told apart:

* whole-manifest problems (unreadable file, missing columns, a row without id
  or system, duplicate ``(system, id)`` pairs, a system outside the declared
  set) raise :class:`ManifestError` naming the column and line: nothing runs;
* per-row problems (a missing or escaping file, empty text) are recorded on
  the row: the runner turns them into error results and carries on.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("id", "system", "audio")
OPTIONAL_COLUMNS = ("reference", "prompt", "text")
PATH_COLUMNS = ("audio", "reference", "prompt")
MAX_MANIFEST_BYTES = 50 * 1024 * 1024
MAX_ROWS = 100_000


class ManifestError(ValueError):
    """The manifest as a whole cannot be used; the message names the file, line and column."""


@dataclass(frozen=True)
class ManifestRow:
    """One utterance to score.

    Attributes:
        line: line number in the manifest file (1-based; the CSV header is line 1).
        id: utterance id, unique within its system.
        system: name of the system that produced ``audio``.
        audio: checked path of the audio to score, or None when ``error`` says why not.
        reference / prompt: checked paths, or None (absent, or broken: see ``input_errors``).
        text: expected transcript, or None (absent, or empty: see ``input_errors``).
        error: why the row cannot be scored at all (its audio path is unusable).
        input_errors: {"reference" | "prompt" | "text": why that optional input is unusable};
            the metrics that need it fail with this message instead of being skipped.
        cells: the raw manifest values (for reports), by column.
    """

    line: int
    id: str
    system: str
    audio: Path | None
    reference: Path | None = None
    prompt: Path | None = None
    text: str | None = None
    error: str | None = None
    input_errors: dict[str, str] = field(default_factory=dict)
    cells: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """The row's identity in results: (system, id)."""
        return (self.system, self.id)


def read_manifest(path: str | Path, systems: Iterable[str] | None = None) -> list[ManifestRow]:
    """Parse and check a CSV (``.csv``) or JSON Lines (``.jsonl``/``.json``) manifest.

    Args:
        path: the manifest file; paths inside it are relative to its folder.
        systems: when given, the only system names allowed (others are an error).

    Returns:
        One ManifestRow per data row, in file order.

    Raises:
        ManifestError: whole-manifest problems (see the module docstring).
    """
    path = Path(path)
    raw_rows = _read_raw(path)
    if not raw_rows:
        raise ManifestError(f"{path.name}: the manifest has no rows; "
                            f"it needs the columns {', '.join(REQUIRED_COLUMNS)}.")
    if len(raw_rows) > MAX_ROWS:
        raise ManifestError(f"{path.name}: {len(raw_rows)} rows; the limit is {MAX_ROWS}.")
    allowed = set(systems) if systems is not None else None
    base = path.parent.resolve()
    rows: list[ManifestRow] = []
    first_line: dict[tuple[str, str], int] = {}
    for line, cells in raw_rows:
        row = _check_row(path.name, base, line, cells, allowed)
        if row.key in first_line:
            raise ManifestError(f"{path.name} line {line}: duplicate (system, id) = {row.key!r}; "
                                f"first seen on line {first_line[row.key]}. Each id must be unique per system.")
        first_line[row.key] = line
        rows.append(row)
    return rows


def _read_raw(path: Path) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise ManifestError(f"No manifest at {str(path)!r}: it does not exist or is not a file.")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path.name}: larger than {MAX_MANIFEST_BYTES // 2**20} MB.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path.name}: not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    if not text.strip():
        raise ManifestError(f"{path.name}: the file is empty; it needs the columns {', '.join(REQUIRED_COLUMNS)}.")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _read_jsonl(path.name, text)
    if suffix in (".csv", ".tsv"):
        return _read_csv(path.name, text, "\t" if suffix == ".tsv" else ",")
    raise ManifestError(f"{path.name}: unknown manifest type {suffix!r}; use .csv or .jsonl.")


def _read_csv(name: str, text: str, delimiter: str) -> list[tuple[int, dict[str, str]]]:
    # strict: a quote that is never closed is an error, not a field swallowing the rest of the file
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise ManifestError(f"{name} line 1: cannot read the CSV header ({exc}).") from None
    _check_columns(name, 1, header)
    rows, line = [], 1
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                raise ManifestError(f"{name} line {line}: {len(values)} fields but the header has {len(header)}; "
                                    "quote fields that contain the delimiter.")
            rows.append((line, {h: v for h, v in zip(header, values, strict=False)}))
    except csv.Error as exc:
        hint = "; a quote opened on this line is never closed" if "end of data" in str(exc) else ""
        raise ManifestError(f"{name} line {line + 1 if hint else reader.line_num}: malformed CSV ({exc}{hint}).") \
            from None
    return rows


def _read_jsonl(name: str, text: str) -> list[tuple[int, dict[str, str]]]:
    rows = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw, object_pairs_hook=_Pairs)  # pairs, not a dict: a repeated key is seen
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{name} line {line}: invalid JSON ({exc.msg} at column {exc.colno}).") from None
        if not isinstance(obj, _Pairs):
            raise ManifestError(f"{name} line {line}: expected a JSON object per line, got {type(obj).__name__}.")
        _check_columns(name, line, [str(k).strip().lower() for k, _ in obj], "object")
        cells = {}
        for key, value in obj:
            if isinstance(value, list):
                raise ManifestError(f"{name} line {line}: column {key!r} must be a string or number.")
            cells[str(key).strip().lower()] = "" if value is None else str(value)
        rows.append((line, cells))
    return rows


class _Pairs(list):
    """A JSON object as its (key, value) pairs, in order, repeats kept."""


def _check_columns(name: str, line: int, columns: list[str], where: str = "header") -> None:
    twice = sorted({c for c in columns if c and columns.count(c) > 1})
    if twice:  # which of the two would count is anyone's guess
        raise ManifestError(f"{name} line {line}: column(s) {', '.join(twice)} appear more than once in the {where}.")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ManifestError(f"{name} line {line}: missing required column(s) {', '.join(missing)} "
                            f"(found: {', '.join(columns) or 'none'}). Required: {', '.join(REQUIRED_COLUMNS)}; "
                            f"optional: {', '.join(OPTIONAL_COLUMNS)}.")
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        log.warning("%s line %d: ignoring unknown column(s) %s", name, line, ", ".join(unknown))


def _check_row(name: str, base: Path, line: int, cells: dict[str, str], allowed: set[str] | None) -> ManifestRow:
    values = {k: (cells.get(k) or "").strip() for k in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    for column in ("id", "system"):
        if not values[column]:
            raise ManifestError(f"{name} line {line}: the {column!r} column is empty; "
                                "every row needs an id and a system.")
    if allowed is not None and values["system"] not in allowed:
        raise ManifestError(f"{name} line {line}: unknown system {values['system']!r}; "
                            f"expected one of: {', '.join(sorted(allowed))}.")
    audio, error = _checked_path(base, "audio", values["audio"])
    input_errors: dict[str, str] = {}
    optional_paths: dict[str, Path | None] = {}
    for column in ("reference", "prompt"):
        optional_paths[column] = None
        if values[column]:
            optional_paths[column], problem = _checked_path(base, column, values[column])
            if problem:
                input_errors[column] = problem
    text: str | None = values["text"] or None
    if "text" in cells and not values["text"]:
        input_errors["text"] = f"the text column is empty on line {line}"
    return ManifestRow(line, values["id"], values["system"], audio, optional_paths["reference"],
                       optional_paths["prompt"], text, error, input_errors,
                       {k: cells[k] for k in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if k in cells})


def _checked_path(base: Path, column: str, value: str) -> tuple[Path | None, str | None]:
    """Resolve ``value`` under ``base``; (path, None) when usable, else (None, why not)."""
    if not value:
        return None, f"the {column} column is empty"
    if "\x00" in value:
        return None, f"{column} path contains a NUL byte"
    candidate = (base / value).resolve()  # resolves '..' and symlinks, so links out are caught too
    if not candidate.is_relative_to(base):
        return None, f"{column} path {value!r} leaves the manifest folder; paths must stay inside it"
    if not candidate.is_file():
        return None, f"{column} file {value!r} does not exist"
    return candidate, None
