"""Where a listening test's stimuli come from: an ``eval run`` output folder or an uploaded zip.

Both produce the same list of :class:`Stimulus` (utterance id, system, audio,
optional speaker prompt, objective metrics). Zip members are read by the
names the manifest gives after validation; nothing is extracted to a path a
user chose.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import posixpath
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MAX_ZIP_MEMBER_BYTES = 50 * 1024 * 1024
MAX_ZIP_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
MAX_STIMULI = 5000
NON_METRIC_KEYS = {"id", "system", "audio", "reference", "prompt", "text", "error", "errors", "models", "duration",
                   "line"}


class SourceError(ValueError):
    """A run folder or upload that cannot become a listening test; the message says what to fix."""


@dataclass(frozen=True)
class Stimulus:
    """One system's output for one utterance.

    Args:
        utterance_id: id shared by all systems' outputs of the same utterance.
        system: system name (never shown to raters).
        audio: file path or encoded bytes.
        prompt: optional speaker prompt (path or bytes) shown as the reference.
        metrics: objective metric values of this output (from the eval run).
    """

    utterance_id: str
    system: str
    audio: Path | bytes
    prompt: Path | bytes | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def _metrics_of(row: dict) -> dict[str, float]:
    found: dict[str, float] = {}
    candidates = dict(row.get("metrics") or {}) if isinstance(row.get("metrics"), dict) else {}
    candidates.update({k: v for k, v in row.items() if k not in NON_METRIC_KEYS and k != "metrics"})
    for name, value in candidates.items():
        if isinstance(value, dict):
            value = value.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            found[str(name)] = float(value)
    return found


def _resolve(path_text: str, bases: list[Path]) -> Path | None:
    path = Path(path_text)
    if path.is_absolute():
        return path if path.is_file() else None
    for base in bases:
        if (base / path).is_file():
            return base / path
    return None


def _manifest_paths(run: Path) -> dict[tuple[str, str], tuple[Path | None, Path | None]]:
    """(id, system) -> (audio, prompt) from the manifest named in the run's run.json, when it is still there."""
    meta = run / "run.json"
    try:
        manifest = json.loads(meta.read_text(encoding="utf-8")).get("manifest") if meta.is_file() else None
    except (json.JSONDecodeError, AttributeError):
        manifest = None
    if not manifest or not Path(manifest).is_file():
        return {}
    from eval.manifest import ManifestError, read_manifest

    try:
        rows = read_manifest(manifest)
    except ManifestError as exc:
        raise SourceError(f"the run's manifest {manifest}: {exc}") from None
    return {(r.id, r.system): (r.audio, r.prompt) for r in rows}


def from_run(run_dir: str | Path, audio_root: str | Path | None = None) -> list[Stimulus]:
    """Stimuli of an ``eval run`` folder (its results.jsonl: id, system, audio, optional prompt and metrics).

    Audio and prompt paths come from the run's manifest (named in run.json) when
    it still exists; otherwise relative paths are looked up under ``audio_root``
    (when given) and the run folder. Rows the run could not score (``error``
    set, no metrics) are left out with a warning.

    Raises:
        SourceError: no results.jsonl, unreadable lines, missing audio files, or no usable rows.
    """
    run = Path(run_dir)
    results = run / "results.jsonl"
    if not results.is_file():
        raise SourceError(f"{run} has no results.jsonl: pass the --out folder of an `eval run`.")
    bases = [Path(audio_root)] if audio_root else []
    bases.append(run)
    manifest_paths = _manifest_paths(run)
    stimuli, problems = [], []
    for number, line in enumerate(results.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict) or not row.get("id") or not row.get("system") or not row.get("audio"):
            problems.append(f"line {number}: needs id, system and audio")
            continue
        if row.get("error") and not row.get("metrics"):
            log.warning("%s line %d: left out, the run could not score it (%s)", results, number, row["error"])
            continue
        listed_audio, listed_prompt = manifest_paths.get((str(row["id"]), str(row["system"])), (None, None))
        audio = listed_audio or _resolve(str(row["audio"]), bases)
        if audio is None:
            problems.append(f"line {number}: audio file {row['audio']!r} not found")
            continue
        prompt = listed_prompt or (_resolve(str(row["prompt"]), bases) if row.get("prompt") else None)
        stimuli.append(Stimulus(str(row["id"]), str(row["system"]), audio, prompt, _metrics_of(row)))
    if problems:
        raise SourceError(f"{results}: {len(problems)} unusable rows: " + "; ".join(problems[:10]))
    return _checked(stimuli, str(results))


def _zip_member(archive: zipfile.ZipFile, name: str, base: str) -> bytes:
    joined = posixpath.normpath(posixpath.join(base, name.replace("\\", "/")))
    if joined.startswith(("../", "/")) or joined == "..":
        raise SourceError(f"manifest path {name!r} leaves the zip folder")
    try:
        info = archive.getinfo(joined)
    except KeyError:
        raise SourceError(f"manifest names {name!r} but the zip has no such file") from None
    if info.file_size > MAX_ZIP_MEMBER_BYTES:
        raise SourceError(f"{name!r} is {info.file_size / 1e6:.0f} MB; the limit is {MAX_ZIP_MEMBER_BYTES // 10**6} MB")
    return archive.read(info)


def _manifest_rows(archive: zipfile.ZipFile) -> tuple[list[dict], str]:
    names = [n for n in archive.namelist() if posixpath.basename(n) in ("manifest.csv", "manifest.jsonl")]
    if not names:
        raise SourceError("the zip has no manifest.csv or manifest.jsonl (columns: id, system, audio[, prompt])")
    name = min(names, key=lambda n: n.count("/"))
    text = archive.read(name).decode("utf-8-sig")
    if name.endswith(".csv"):
        rows = list(csv.DictReader(io.StringIO(text)))
    else:
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise SourceError(f"{name}: not JSON lines ({exc.msg})") from None
    return rows, posixpath.dirname(name)


def from_zip(data: bytes) -> list[Stimulus]:
    """Stimuli of an uploaded zip holding a manifest (id, system, audio[, prompt]) and the audio files.

    Raises:
        SourceError: not a zip, no manifest, missing columns or files, oversized members.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise SourceError(f"the upload is larger than {MAX_UPLOAD_BYTES // 10**9} GB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise SourceError("the upload is not a zip file") from None
    if sum(info.file_size for info in archive.infolist()) > MAX_ZIP_TOTAL_BYTES:
        raise SourceError(f"the zip expands to more than {MAX_ZIP_TOTAL_BYTES // 10**9} GB")
    rows, base = _manifest_rows(archive)
    stimuli = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not all(str(row.get(k) or "").strip() for k in ("id", "system", "audio")):
            raise SourceError(f"manifest row {number}: id, system and audio are required")
        prompt = _zip_member(archive, str(row["prompt"]), base) if str(row.get("prompt") or "").strip() else None
        stimuli.append(Stimulus(str(row["id"]).strip(), str(row["system"]).strip(),
                                _zip_member(archive, str(row["audio"]), base), prompt, _metrics_of(row)))
    return _checked(stimuli, "the zip manifest")


def _checked(stimuli: list[Stimulus], where: str) -> list[Stimulus]:
    if not stimuli:
        raise SourceError(f"{where} lists no stimuli")
    if len(stimuli) > MAX_STIMULI:
        raise SourceError(f"{where} lists {len(stimuli)} stimuli; the limit is {MAX_STIMULI}")
    seen: set[tuple[str, str]] = set()
    for s in stimuli:
        if (s.utterance_id, s.system) in seen:
            raise SourceError(f"{where}: utterance {s.utterance_id!r} appears twice for system {s.system!r}")
        seen.add((s.utterance_id, s.system))
    return stimuli
