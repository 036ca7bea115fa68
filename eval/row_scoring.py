"""Score one manifest row into one result record; every problem becomes part of the record.

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


def score_row(scorer: Any, row: ManifestRow, metrics: Sequence[str]) -> dict[str, Any]:
    """Score one manifest row; every problem becomes part of the row, nothing raises.

    Returns:
        {"line", "id", "system", "audio", "error", "metrics": {name: MetricResult fields}}.
        ``error`` is set when the row could not be scored at all.
    """
    from eval.metrics import METRICS, MetricInputs
    from lab.audio import AudioError, load

    record: dict[str, Any] = {"line": row.line, "id": row.id, "system": row.system,
                              "audio": row.cells.get("audio", ""), "error": row.error, "metrics": {}}
    if row.error:
        return record
    try:
        deg = load(row.audio)
    except AudioError as exc:
        record["error"] = f"audio: {exc}"
        return record
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
    inputs = MetricInputs(deg, optional["reference"], optional["prompt"], row.text)
    try:
        results = scorer.score(inputs, metrics=list(metrics))
    except Exception:  # one file's library failure must not end a batch run: isolate the failing metric
        log.exception("line %d (%s/%s): scoring failed; retrying metric by metric", row.line, row.system, row.id)
        results = {name: _score_alone(scorer, inputs, name) for name in metrics}
    for name, result in results.items():
        entry = dataclasses.asdict(result)
        problem = _input_problem(METRICS.get(name), problems)
        if problem and result.skipped:  # the input was meant to be there: a failure, not "not applicable"
            entry.update(value=math.nan, skipped=None, error=problem)
        record["metrics"][name] = entry
    return record


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
