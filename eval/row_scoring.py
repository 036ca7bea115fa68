"""Score manifest rows into result records (one per row); every problem becomes part of the record.

Shared by the in-process loop and the pool workers of eval.runner, so both
produce the same records. Nothing here raises for a bad file: unreadable
audio is a row error, an optional input that was meant to be there but is
unusable fails the metrics that need it (instead of "not applicable"), and an
unexpected exception in one metric is isolated to that metric.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Any

from eval.manifest import ManifestRow

log = logging.getLogger(__name__)


def score_rows(scorer: Any, rows: Sequence[ManifestRow], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Score manifest rows with one ``scorer.score_many`` call; every problem becomes part of a row.

    Returns:
        One record per row, in order: {"line", "id", "system", "audio", "error",
        "metrics": {name: MetricResult fields}}; ``error`` is set when the row
        could not be scored at all.
    """
    records, prepared = [], []
    for row in rows:
        record: dict[str, Any] = {"line": row.line, "id": row.id, "system": row.system,
                                  "audio": row.cells.get("audio", ""), "error": row.error, "metrics": {}}
        records.append(record)
        if not row.error:
            inputs, problems = _load_inputs(row, record)
            if inputs is not None:
                prepared.append((record, row, inputs, problems))
    if not prepared:
        return records
    try:
        batch_results = scorer.score_many([inputs for _, _, inputs, _ in prepared], metrics=list(metrics))
    except Exception:  # one file's library failure must not end a batch run: isolate the failing metric
        log.exception("lines %s: scoring failed; retrying row by row, metric by metric",
                      ", ".join(str(row.line) for _, row, _, _ in prepared))
        batch_results = [{name: _score_alone(scorer, inputs, name) for name in metrics}
                         for _, _, inputs, _ in prepared]
    from eval.metrics import METRICS

    for (record, _, _, problems), results in zip(prepared, batch_results, strict=True):
        for name, result in results.items():
            entry = dataclasses.asdict(result)
            problem = _input_problem(METRICS.get(name), problems)
            if problem and result.skipped:  # the input was meant to be there: a failure, not "not applicable"
                entry.update(value=math.nan, skipped=None, error=problem)
            record["metrics"][name] = entry
    return records


def _load_inputs(row: ManifestRow, record: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """(MetricInputs or None when the audio is unreadable, problems with optional inputs by column)."""
    from eval.metrics import MetricInputs
    from lab.audio import AudioError, load

    try:
        deg = load(row.audio)
    except AudioError as exc:
        record["error"] = f"audio: {exc}"
        return None, {}
    problems = dict(row.input_errors)
    optional = {}
    for column in ("reference", "prompt"):
        optional[column] = None
        path = getattr(row, column)
        if path is not None:
            try:
                optional[column] = load(path)
            except AudioError as exc:
                problems[column] = f"{column}: {exc}"
    return MetricInputs(deg, optional["reference"], optional["prompt"], row.text), problems


def _score_alone(scorer: Any, inputs: Any, name: str) -> Any:
    """One metric on its own; an exception becomes that metric's NaN + error."""
    from eval.metrics import MetricResult

    try:
        return scorer.score(inputs, metrics=[name])[name]
    except Exception as exc:  # recorded in the row and the report, never hidden
        return MetricResult(name, math.nan, error=f"{type(exc).__name__}: {exc}")


def _input_problem(info: Any, problems: dict[str, str]) -> str | None:
    if info is None:
        return None
    needs = {"reference": info.needs_reference, "prompt": info.needs_speaker_prompt, "text": info.needs_text}
    return next((problems[k] for k, needed in needs.items() if needed and k in problems), None)
