"""Statistics shared by batch reports and listening tests.

Everything here is a thin, named wrapper over scipy.stats so that reports and
listening analyses state the same method the same way (95% by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    n: int
    method: str


def bootstrap_mean_ci(
    values: np.ndarray | list[float], confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> Interval:
    """Mean with a BCa bootstrap CI (percentile when BCa is degenerate); NaNs are dropped.

    Returns an Interval with NaN bounds when fewer than two finite values exist.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "bootstrap")
    if len(x) < 2 or np.ptp(x) == 0:
        m = float(x.mean())
        return Interval(m, m if len(x) >= 2 else math.nan, m if len(x) >= 2 else math.nan, len(x), "bootstrap")
    rng = np.random.default_rng(seed)
    res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                          method="BCa", random_state=rng)
    low, high = res.confidence_interval
    method = "bootstrap-BCa"
    if not (math.isfinite(low) and math.isfinite(high)):
        res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                              method="percentile", random_state=np.random.default_rng(seed))
        low, high = res.confidence_interval
        method = "bootstrap-percentile"
    return Interval(float(x.mean()), float(low), float(high), len(x), method)


def t_mean_ci(values: np.ndarray | list[float], confidence: float = 0.95) -> Interval:
    """Mean with a Student-t CI; NaNs are dropped."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        m = float(x.mean()) if len(x) else math.nan
        return Interval(m, math.nan, math.nan, len(x), "t")
    low, high = stats.t.interval(confidence, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    if not math.isfinite(low):  # zero variance
        low = high = float(x.mean())
    return Interval(float(x.mean()), float(low), float(high), len(x), "t")


@dataclass(frozen=True)
class PairedComparison:
    """System A minus system B on the same utterances."""

    mean_difference: Interval
    wilcoxon_p: float
    n_pairs: int


def paired_comparison(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> PairedComparison:
    """Mean difference (bootstrap CI) and two-sided Wilcoxon signed-rank p of paired values.

    Pairs where either value is NaN are dropped. p is NaN when all differences are zero
    or fewer than two pairs remain.
    """
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(a_arr) & np.isfinite(b_arr)
    diff = a_arr[keep] - b_arr[keep]
    p = math.nan
    if len(diff) >= 2 and np.any(diff != 0):
        p = float(stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)
    return PairedComparison(bootstrap_mean_ci(diff), p, len(diff))


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Proportion with its Wilson score interval (scipy's binomtest)."""
    if trials == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "wilson")
    ci = stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(successes / trials, float(ci.low), float(ci.high), trials, "wilson")


def binomial_p(successes: int, trials: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test p-value (NaN for zero trials)."""
    if trials == 0:
        return math.nan
    return float(stats.binomtest(successes, trials, p, alternative="two-sided").pvalue)


def bradley_terry(wins: np.ndarray, max_iter: int = 1000, tol: float = 1e-10) -> np.ndarray:
    """Bradley-Terry strengths from a win matrix (MM algorithm of Hunter 2004).

    Args:
        wins: (K, K) array, ``wins[i, j]`` = times i was preferred over j
            (ties may be added as half a win to each side by the caller).

    Returns:
        (K,) log-strengths, centred to mean zero. An item that never won gets
        a large negative value bounded by a 0.5 pseudo-win to keep it finite.
    """
    w = np.asarray(wins, dtype=np.float64)
    k = w.shape[0]
    games = w + w.T
    total_wins = w.sum(axis=1) + 0.5  # pseudo-count keeps every strength finite
    p = np.ones(k)
    for _ in range(max_iter):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = total_wins / np.maximum(denom, 1e-300)
        new /= np.exp(np.mean(np.log(new)))
        if np.max(np.abs(np.log(new) - np.log(p))) < tol:
            p = new
            break
        p = new
    log_p = np.log(p)
    return log_p - log_p.mean()
