"""Turn result rows into the numbers a report states: per-system summaries, paired comparisons, worst cases.

Values from different models are never pooled: every summary cell and every
comparison is keyed by the model that produced the values (speaker similarity
from two encoders is two rows, not one mean). Row-level errors count as
failures of every metric of the run.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eval import stats

MEAN = "mean of per-utterance values"
CORPUS = "corpus (total errors / total reference units)"


@dataclass(frozen=True)
class SummaryRow:
    """One cell group of the summary: a system, a metric, one model, one statistic.

    Attributes:
        n: utterances with a finite value; n_failed / n_skipped: errors and not-applicable.
        mean, ci_low, ci_high: the statistic and its 95% CI (NaN when undefined).
    """

    system: str
    metric: str
    statistic: str
    model: str
    n: int
    n_failed: int
    n_skipped: int
    mean: float
    ci_low: float
    ci_high: float
    ci_method: str


@dataclass(frozen=True)
class Comparison:
    """System a minus system b on utterances both have (same id, same model)."""

    metric: str
    model: str
    system_a: str
    system_b: str
    n_pairs: int
    mean_difference: float
    ci_low: float
    ci_high: float
    wilcoxon_p: float


def models_of(rows: Sequence[dict[str, Any]], metric: str) -> list[str]:
    """Models that produced finite values of ``metric``, in order of first appearance."""
    return list(dict.fromkeys(model_of(r, metric) for r in rows if math.isfinite(metric_value(r, metric))))


def metric_value(row: dict[str, Any], metric: str) -> float:
    """The row's value of ``metric`` (NaN when missing, failed, skipped or stored as null)."""
    entry = row.get("metrics", {}).get(metric)
    value = entry.get("value") if entry else None
    return math.nan if value is None else float(value)


def model_of(row: dict[str, Any], metric: str) -> str:
    """Model that produced ``metric`` in ``row``; "-" for model-free metrics."""
    entry = row.get("metrics", {}).get(metric) or {}
    return entry.get("model") or "-"


def values_of(rows: Sequence[dict[str, Any]], system: str, metric: str, model: str) -> list[float]:
    """Finite values of ``metric`` from ``model`` for ``system``, in row order."""
    return [v for r in rows if r["system"] == system and model_of(r, metric) == model
            and math.isfinite(v := metric_value(r, metric))]


def systems_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """System names in order of first appearance."""
    return list(dict.fromkeys(r["system"] for r in rows))


def summarize(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> list[SummaryRow]:
    """Per system, metric and model: n, failures, skips, mean with bootstrap CI (+ corpus WER/CER)."""
    out = []
    for system in systems_of(rows):
        mine = [r for r in rows if r["system"] == system]
        for metric in metrics:
            groups = _group_by_model(mine, metric)
            for model, (values, failed, skipped) in groups.items():
                ci = stats.bootstrap_mean_ci(values)
                out.append(SummaryRow(system, metric, MEAN, model, ci.n, failed, skipped, ci.estimate, ci.low,
                                      ci.high, ci.method))
                corpus = _corpus_rate(mine, metric, model)
                if corpus is not None:
                    out.append(SummaryRow(system, metric, CORPUS, model, corpus[1], failed, skipped, corpus[0],
                                          math.nan, math.nan, "none"))
    return out


def _group_by_model(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, tuple[list[float], int, int]]:
    """{model: (finite values, failures, skips)}; failures and skips without a model go to the main model."""
    values: dict[str, list[float]] = defaultdict(list)
    failed: Counter = Counter()
    skipped: Counter = Counter()
    loose_failed = loose_skipped = 0
    for row in rows:
        entry = (row.get("metrics") or {}).get(metric)
        if row.get("error") or entry is None:
            loose_failed += 1
            continue
        model = entry.get("model")
        if math.isfinite(metric_value(row, metric)):
            values[model or "-"].append(metric_value(row, metric))
        elif entry.get("skipped") and model:
            skipped[model] += 1
        elif entry.get("skipped"):
            loose_skipped += 1
        elif model:
            failed[model] += 1
        else:
            loose_failed += 1
    models = list(dict.fromkeys([*values, *failed, *skipped])) or ["-"]
    main = max(models, key=lambda m: len(values.get(m, [])))
    failed[main] += loose_failed
    skipped[main] += loose_skipped
    return {m: (values.get(m, []), failed[m], skipped[m]) for m in models}


def _corpus_rate(rows: Sequence[dict[str, Any]], metric: str, model: str) -> tuple[float, int] | None:
    """(total errors / total reference units, utterances) for rows whose details carry the counts."""
    errors = reference = used = 0
    for row in rows:
        entry = (row.get("metrics") or {}).get(metric) or {}
        details = entry.get("details") or {}
        if (entry.get("model") or "-") != model or not math.isfinite(metric_value(row, metric)):
            continue
        if "errors" not in details or "ref_units" not in details:
            return None
        errors += details["errors"]
        reference += details["ref_units"]
        used += 1
    if used == 0 or reference == 0:
        return None
    return errors / reference, used


def compare_systems(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> list[Comparison]:
    """Every pair of systems, per metric and model, on the utterance ids both scored."""
    out = []
    systems = systems_of(rows)
    for metric in metrics:
        by_system: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for row in rows:
            value = metric_value(row, metric)
            if math.isfinite(value):
                by_system[(row["system"], model_of(row, metric))][row["id"]] = value
        models = list(dict.fromkeys(m for _, m in by_system))
        for model, (a, b) in itertools.product(models, itertools.combinations(systems, 2)):
            va, vb = by_system.get((a, model), {}), by_system.get((b, model), {})
            ids = [i for i in va if i in vb]
            if len(ids) < 2:
                continue
            result = stats.paired_comparison([va[i] for i in ids], [vb[i] for i in ids])
            diff = result.mean_difference
            out.append(Comparison(metric, model, a, b, result.n_pairs, diff.estimate, diff.low, diff.high,
                                  result.wilcoxon_p))
    return out


def worst_rows(
    rows: Sequence[dict[str, Any]], metric: str, model: str, higher_is_better: bool, k: int
) -> list[dict[str, Any]]:
    """The ``k`` rows with the worst finite value of ``metric`` from ``model`` (ties: manifest order)."""
    scored = [r for r in rows if math.isfinite(metric_value(r, metric)) and model_of(r, metric) == model]
    sign = 1.0 if higher_is_better else -1.0
    return sorted(scored, key=lambda r: (sign * metric_value(r, metric), r["line"]))[:k]


def coverage_notes(rows: Sequence[dict[str, Any]], metrics: Sequence[str], min_s: float = 0.05) -> list[str]:
    """One sentence per metric whose outputs missed part of the reference's span (scored as silence) or ran
    beyond it (not scored), by at least ``min_s`` seconds."""
    notes = []
    for metric in metrics:
        details = [((row.get("metrics") or {}).get(metric) or {}).get("details") or {} for row in rows]
        for key, what in (("uncovered_seconds", "missed part of the reference (scored as silence)"),
                          ("dropped_seconds", "ran beyond the reference (that part not scored)")):
            amounts = [d[key] for d in details if (d.get(key) or 0) >= min_s]
            if amounts:
                notes.append(f"{metric}: the output {what} on {len(amounts)} utterance(s) "
                             f"(median {np.median(amounts):.2f} s, max {max(amounts):.2f} s).")
    return notes


def delay_notes(rows: Sequence[dict[str, Any]], metrics: Sequence[str], min_ms: float = 1.0) -> list[str]:
    """One sentence per metric whose details report a delay of at least ``min_ms`` (removed or not)."""
    notes = []
    for metric in metrics:
        delays, removed = [], 0
        for row in rows:
            details = ((row.get("metrics") or {}).get(metric) or {}).get("details") or {}
            delay = details.get("delay_ms")
            if delay is not None and abs(delay) >= min_ms:
                delays.append(abs(delay))
                removed += bool(details.get("delay_removed"))
        if delays:
            action = (f"found and removed before scoring on {removed} of {len(delays)} utterance(s)" if removed
                      else f"found on {len(delays)} utterance(s) and left to the metric's own time alignment")
            notes.append(f"{metric}: a constant delay between reference and output was {action} "
                         f"(|delay| median {np.median(delays):.1f} ms, max {max(delays):.1f} ms).")
    return notes


def fallback_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One sentence per (requested model -> used model) fallback seen in the results."""
    seen: dict[tuple[str, str], str] = {}
    for row in rows:
        for entry in (row.get("metrics") or {}).values():
            details = entry.get("details") or {}
            if details.get("fallback_reason"):
                seen.setdefault((details.get("requested_model", "?"), entry.get("model") or "?"),
                                details["fallback_reason"])
    return [f"{requested} was requested but {used} produced the values: {why}"
            for (requested, used), why in seen.items()]
