"""Statistics of listening-test votes: preferences, Bradley-Terry, MOS/CMOS, rater quality.

Pure functions over :class:`VoteRecord` lists, oriented to the item (system
``a`` vs system ``b`` as stored, whatever side the rater saw), so they can be
checked on simulated votes.

Stated rules:
- Ties ("no preference") are excluded from the preference rate, its Wilson
  interval and the exact binomial test; their count and the split-half rate
  ``(wins + ties/2) / votes`` are reported alongside. Bradley-Terry counts a tie
  as half a win for each side.
- Confidence intervals are 95%. MOS and CMOS report a Student-t interval over
  all ratings and, as the primary interval, a two-way bootstrap that resamples
  raters and items independently (it accounts for both sources of variance).
  Bradley-Terry intervals are percentile bootstraps over raters.
- A rater is flagged when they fail at least one attention check.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from eval import stats

N_BOOTSTRAP = 1000


@dataclass(frozen=True)
class VoteRecord:
    """One vote oriented to its item: ``preferred`` is "a", "b" or "tie" (A/B); ``score`` is MOS or CMOS (b vs a)."""

    rater: str
    item_id: int
    item_kind: str
    utterance_id: str
    system_a: str
    system_b: str | None
    preferred: str | None = None
    score: int | None = None
    expected: str | None = None


def attention_failed(record: VoteRecord, test_kind: str) -> bool:
    """True when an attention-check vote has the wrong answer (see the module rules)."""
    if record.expected == "same":
        return record.preferred != "tie" if test_kind == "ab" else abs(record.score) > 1
    if record.expected == "a_better":  # clip b is the degraded copy of clip a
        return record.preferred != "a" if test_kind == "ab" else record.score >= 0
    if record.expected == "low":
        return record.score > (2 if test_kind == "mos" else 3)
    return False


def pair_preferences(records: list[VoteRecord]) -> list[dict]:
    """Per unordered system pair (X < Y by name): wins, ties, preference for X with Wilson CI and binomial p."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in records:
        x, y = sorted((r.system_a, r.system_b))
        winner = {"a": r.system_a, "b": r.system_b}.get(r.preferred)
        counts[(x, y)][0 if winner == x else 1 if winner == y else 2] += 1
    rows = []
    for (x, y), (wins_x, wins_y, ties) in sorted(counts.items()):
        decisive = wins_x + wins_y
        ci = stats.wilson_interval(wins_x, decisive)
        rows.append({"system_x": x, "system_y": y, "votes": decisive + ties, "wins_x": wins_x, "wins_y": wins_y,
                     "ties": ties, "preference_x": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
                     "binomial_p": stats.binomial_p(wins_x, decisive),
                     "preference_x_ties_split": (wins_x + ties / 2) / (decisive + ties)})
    return rows


def _win_matrices(records: list[VoteRecord], systems: list[str], raters: list[str]) -> np.ndarray:
    """(R, K, K) per-rater win counts; ties add 0.5 to both directions."""
    index, rater_index = {s: i for i, s in enumerate(systems)}, {r: i for i, r in enumerate(raters)}
    wins = np.zeros((len(raters), len(systems), len(systems)))
    for r in records:
        a, b, k = index[r.system_a], index[r.system_b], rater_index[r.rater]
        if r.preferred == "a":
            wins[k, a, b] += 1
        elif r.preferred == "b":
            wins[k, b, a] += 1
        elif r.preferred == "tie":
            wins[k, a, b] += 0.5
            wins[k, b, a] += 0.5
    return wins


def bradley_terry_ci(records: list[VoteRecord], n_resamples: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Bradley-Terry log-strengths (mean zero) with percentile bootstrap 95% CIs over raters."""
    systems = sorted({r.system_a for r in records} | {r.system_b for r in records})
    raters = sorted({r.rater for r in records})
    per_rater = _win_matrices(records, systems, raters)
    strengths = stats.bradley_terry(per_rater.sum(axis=0))
    rng = np.random.default_rng(seed)
    boot = np.empty((n_resamples, len(systems)))
    for b in range(n_resamples):
        weights = np.bincount(rng.integers(0, len(raters), len(raters)), minlength=len(raters))
        boot[b] = stats.bradley_terry(np.tensordot(weights, per_rater, axes=1))
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    return {"method": "Bradley-Terry (MM), log-strength centred at 0; 95% percentile bootstrap over raters",
            "n_resamples": n_resamples,
            "systems": [{"system": s, "log_strength": float(strengths[i]), "ci_low": float(low[i]),
                         "ci_high": float(high[i])} for i, s in enumerate(systems)]}


def two_way_bootstrap_mean(values: np.ndarray, raters: np.ndarray, items: np.ndarray,
                           n_resamples: int = N_BOOTSTRAP, seed: int = 0) -> stats.Interval:
    """Mean with a 95% percentile CI resampling raters and items independently (crossed design).

    Args:
        values: (N,) scores.
        raters: (N,) integer rater index of each score.
        items: (N,) integer item index of each score.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return stats.Interval(float(values.mean()) if len(values) else math.nan, math.nan, math.nan, len(values),
                              "bootstrap-raters-items")
    n_r, n_i = int(raters.max()) + 1, int(items.max()) + 1
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(n_resamples):
        weight = (np.bincount(rng.integers(0, n_r, n_r), minlength=n_r)[raters]
                  * np.bincount(rng.integers(0, n_i, n_i), minlength=n_i)[items])
        if weight.sum() > 0:
            means.append(float(np.dot(weight, values) / weight.sum()))
    low, high = np.percentile(means, [2.5, 97.5])
    return stats.Interval(float(values.mean()), float(low), float(high), len(values), "bootstrap-raters-items")


def _score_summary(rows: list[VoteRecord]) -> dict:
    values = np.array([r.score for r in rows], dtype=np.float64)
    rater_ids = {r: i for i, r in enumerate(sorted({r.rater for r in rows}))}
    item_ids = {i: n for n, i in enumerate(sorted({r.item_id for r in rows}))}
    boot = two_way_bootstrap_mean(values, np.array([rater_ids[r.rater] for r in rows]),
                                  np.array([item_ids[r.item_id] for r in rows]))
    with np.errstate(invalid="ignore"):  # identical scores: scipy warns, t_mean_ci returns a zero-width interval
        t = stats.t_mean_ci(values)
    return {"n": len(rows), "raters": len(rater_ids), "items": len(item_ids), "mean": boot.estimate,
            "ci_low": boot.low, "ci_high": boot.high, "t_ci_low": t.low, "t_ci_high": t.high}


def mos_by_system(records: list[VoteRecord]) -> list[dict]:
    """Per system: mean opinion score, two-way bootstrap CI (primary) and t CI."""
    groups: dict[str, list[VoteRecord]] = defaultdict(list)
    for r in records:
        groups[r.system_a].append(r)
    return [{"system": s, **_score_summary(rows)} for s, rows in sorted(groups.items())]


def cmos_by_pair(records: list[VoteRecord]) -> list[dict]:
    """Per system pair (X < Y): mean CMOS of Y relative to X with CIs and a Wilcoxon signed-rank p against 0."""
    groups: dict[tuple[str, str], list[VoteRecord]] = defaultdict(list)
    for r in records:
        x, y = sorted((r.system_a, r.system_b))
        sign = 1 if (r.system_a, r.system_b) == (x, y) else -1
        groups[(x, y)].append(VoteRecord(r.rater, r.item_id, r.item_kind, r.utterance_id, x, y, score=sign * r.score))
    rows = []
    for (x, y), group in sorted(groups.items()):
        scores = [r.score for r in group]
        rows.append({"system_x": x, "system_y": y, **_score_summary(group),
                     "wilcoxon_p": stats.paired_comparison(scores, [0] * len(scores)).wilcoxon_p})
    return rows


def rater_agreement(records: list[VoteRecord], test_kind: str) -> dict[str, tuple[float, int]]:
    """Per rater: (agreement, n) with the other raters on the same items (leave-one-out).

    A/B: share of the rater's decisive votes that match the others' majority.
    CMOS: share whose sign matches the sign of the others' mean. MOS: Spearman
    correlation of the rater's scores with the others' item means (needs 3 items).
    """
    from scipy import stats as scipy_stats

    by_item: dict[int, list[VoteRecord]] = defaultdict(list)
    for r in records:
        by_item[r.item_id].append(r)
    matches: dict[str, list[float]] = defaultdict(list)
    pairs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for votes in by_item.values():
        for r, others in ((r, [o for o in votes if o is not r]) for r in votes):
            if test_kind == "ab":
                lead = sum(o.preferred == "a" for o in others) - sum(o.preferred == "b" for o in others)
                if r.preferred in ("a", "b") and lead != 0:
                    matches[r.rater].append(float((lead > 0) == (r.preferred == "a")))
            elif others and test_kind == "cmos":
                mean = np.mean([o.score for o in others])
                if r.score != 0 and mean != 0:
                    matches[r.rater].append(float((r.score > 0) == (mean > 0)))
            elif others:
                pairs[r.rater].append((r.score, float(np.mean([o.score for o in others]))))
    result = {rater: (float(np.mean(m)), len(m)) for rater, m in matches.items()}
    for rater, values in pairs.items():
        own, rest = zip(*values, strict=True)
        enough = len(values) >= 3 and np.ptp(own) > 0 and np.ptp(rest) > 0
        result[rater] = (float(scipy_stats.spearmanr(own, rest).statistic) if enough else math.nan, len(values))
    return result


def correlate(listening: dict, metrics: dict) -> list[dict]:
    """Spearman and Pearson correlation of a listening score with each metric over shared keys.

    Args:
        listening: key -> listening score (e.g. per stimulus or per pair item).
        metrics: key -> {metric name: value} on the same keys.
    """
    from scipy import stats as scipy_stats

    names = sorted({m for key in listening for m in metrics.get(key, {})})
    rows = []
    for name in names:
        keys = [k for k in listening if name in metrics.get(k, {})]
        x, y = np.array([listening[k] for k in keys]), np.array([metrics[k][name] for k in keys])
        ok = len(keys) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0
        rows.append({"metric": name, "n": len(keys),
                     "spearman": float(scipy_stats.spearmanr(x, y).statistic) if ok else math.nan,
                     "spearman_p": float(scipy_stats.spearmanr(x, y).pvalue) if ok else math.nan,
                     "pearson": float(scipy_stats.pearsonr(x, y).statistic) if ok else math.nan,
                     "pearson_p": float(scipy_stats.pearsonr(x, y).pvalue) if ok else math.nan})
    return rows
