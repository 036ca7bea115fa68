"""Listening statistics checked against scipy and simulations with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from eval import stats
from eval.listening import analysis
from eval.listening.analysis import VoteRecord


def _wilson_reference(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval from its closed form (independent of scipy's implementation)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("wins", "trials", "p_expected"), [
    (8, 10, 0.109375),     # 2 * P(X >= 8), X ~ Bin(10, .5) = 2 * 56/1024
    (5, 10, 1.0),
    (0, 6, 0.03125),       # 2 * 0.5**6
    (60, 100, 0.056887),   # textbook value
    (15, 20, 0.041389),
])
def test_binomial_p_matches_exact_values(wins: int, trials: int, p_expected: float) -> None:
    assert stats.binomial_p(wins, trials) == pytest.approx(p_expected, abs=1e-6)
    assert stats.binomial_p(wins, trials) == pytest.approx(scipy_stats.binomtest(wins, trials).pvalue)


@pytest.mark.parametrize(("wins", "trials"), [(8, 10), (0, 10), (10, 10), (37, 50), (512, 1000)])
def test_wilson_interval_matches_closed_form(wins: int, trials: int) -> None:
    low, high = _wilson_reference(wins, trials)
    ci = stats.wilson_interval(wins, trials)
    assert (ci.low, ci.high) == pytest.approx((low, high), abs=1e-9)
    assert ci.estimate == wins / trials


def _pair_votes(winners: list[str], ties: int) -> list[VoteRecord]:
    votes = [VoteRecord(f"r{i}", i, "normal", "u", "x", "y", preferred=w) for i, w in enumerate(winners)]
    return votes + [VoteRecord(f"t{i}", 100 + i, "normal", "u", "y", "x", preferred="tie") for i in range(ties)]


def test_pair_preference_excludes_ties_and_reports_split_rate() -> None:
    # system "x" wins 8 (6 as item side a, 2 as side b of reversed items), loses 2, 3 ties
    votes = _pair_votes(["a"] * 6 + ["b"] * 2, ties=3)
    votes += [VoteRecord("q1", 50, "normal", "u", "y", "x", preferred="b"),
              VoteRecord("q2", 51, "normal", "u", "y", "x", preferred="b")]
    (row,) = analysis.pair_preferences(votes)
    assert (row["wins_x"], row["wins_y"], row["ties"], row["votes"]) == (8, 2, 3, 13)
    assert row["preference_x"] == pytest.approx(0.8)
    assert row["binomial_p"] == pytest.approx(scipy_stats.binomtest(8, 10).pvalue)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(_wilson_reference(8, 10), abs=1e-9)
    assert row["preference_x_ties_split"] == pytest.approx((8 + 1.5) / 13)


def test_bradley_terry_recovers_known_strengths_from_simulated_votes() -> None:
    rng = np.random.default_rng(7)
    truth = {"s0": 1.0, "s1": 0.3, "s2": -0.2, "s3": -1.1}
    names = list(truth)
    votes = []
    for n in range(6000):
        a, b = rng.choice(4, size=2, replace=False)
        p_a = 1 / (1 + math.exp(truth[names[b]] - truth[names[a]]))
        votes.append(VoteRecord(f"r{n % 60}", n, "normal", "u", names[a], names[b],
                                preferred="a" if rng.random() < p_a else "b"))
    result = analysis.bradley_terry_ci(votes, n_resamples=300)
    got = {row["system"]: row for row in result["systems"]}
    centred = np.array(list(truth.values())) - np.mean(list(truth.values()))
    for name, expected in zip(names, centred, strict=True):
        assert got[name]["log_strength"] == pytest.approx(expected, abs=0.1)
        assert got[name]["ci_low"] < got[name]["log_strength"] < got[name]["ci_high"]
        assert got[name]["ci_high"] - got[name]["ci_low"] < 0.4
    assert sorted(got, key=lambda s: -got[s]["log_strength"]) == names


def test_two_way_bootstrap_equals_ordinary_bootstrap_with_one_item() -> None:
    values = np.random.default_rng(3).normal(3.5, 0.8, 60)
    ci = analysis.two_way_bootstrap_mean(values, np.arange(60), np.zeros(60, dtype=int), n_resamples=4000)
    reference = scipy_stats.bootstrap((values,), np.mean, n_resamples=4000, method="percentile",
                                      random_state=np.random.default_rng(0)).confidence_interval
    assert ci.estimate == pytest.approx(values.mean())
    assert (ci.low, ci.high) == pytest.approx((reference.low, reference.high), abs=0.03)


def test_two_way_bootstrap_widens_for_rater_and_item_effects_where_t_does_not() -> None:
    rng = np.random.default_rng(11)
    raters, items = np.repeat(np.arange(10), 20), np.tile(np.arange(20), 10)
    values = 3 + rng.normal(0, 0.8, 10)[raters] + rng.normal(0, 0.8, 20)[items] + rng.normal(0, 0.3, 200)
    boot = analysis.two_way_bootstrap_mean(values, raters, items)
    t = stats.t_mean_ci(values)
    assert (boot.high - boot.low) > 2 * (t.high - t.low)  # 200 ratings are not 200 independent samples


def test_mos_summary_t_interval_matches_scipy() -> None:
    scores = [5, 4, 4, 3, 5, 2, 4, 4, 3, 5]
    votes = [VoteRecord(f"r{i % 3}", i, "normal", "u", "sys", None, score=s) for i, s in enumerate(scores)]
    (row,) = analysis.mos_by_system(votes)
    low, high = scipy_stats.t.interval(0.95, len(scores) - 1, loc=np.mean(scores), scale=scipy_stats.sem(scores))
    assert row["mean"] == pytest.approx(3.9)
    assert (row["t_ci_low"], row["t_ci_high"]) == pytest.approx((low, high))
    assert row["ci_low"] <= 3.9 <= row["ci_high"]


def test_cmos_is_oriented_to_the_sorted_pair() -> None:
    votes = [VoteRecord("r1", 1, "normal", "u", "x", "y", score=2),
             VoteRecord("r2", 2, "normal", "u", "y", "x", score=-2),
             VoteRecord("r3", 3, "normal", "u", "y", "x", score=-1)]
    (row,) = analysis.cmos_by_pair(votes)
    assert (row["system_x"], row["system_y"]) == ("x", "y")
    assert row["mean"] == pytest.approx(5 / 3)  # y over x: +2, +2, +1


@pytest.mark.parametrize(("kind", "record", "failed"), [
    ("ab", VoteRecord("r", 1, "attention_identical", "u", "x", "x", preferred="tie", expected="same"), False),
    ("ab", VoteRecord("r", 1, "attention_identical", "u", "x", "x", preferred="a", expected="same"), True),
    ("ab", VoteRecord("r", 1, "attention_degraded", "u", "x", "degraded", preferred="a", expected="a_better"), False),
    ("ab", VoteRecord("r", 1, "attention_degraded", "u", "x", "degraded", preferred="b", expected="a_better"), True),
    ("cmos", VoteRecord("r", 1, "attention_identical", "u", "x", "x", score=1, expected="same"), False),
    ("cmos", VoteRecord("r", 1, "attention_identical", "u", "x", "x", score=-3, expected="same"), True),
    ("cmos", VoteRecord("r", 1, "attention_degraded", "u", "x", "degraded", score=-2, expected="a_better"), False),
    ("cmos", VoteRecord("r", 1, "attention_degraded", "u", "x", "degraded", score=0, expected="a_better"), True),
    ("mos", VoteRecord("r", 1, "attention_degraded", "u", "x", None, score=2, expected="low"), False),
    ("mos", VoteRecord("r", 1, "attention_degraded", "u", "x", None, score=4, expected="low"), True),
])
def test_attention_check_rules(kind: str, record: VoteRecord, failed: bool) -> None:
    assert analysis.attention_failed(record, kind) is failed


def test_rater_agreement_with_leave_one_out_majority() -> None:
    votes = []
    for item in range(5):
        votes += [VoteRecord("good1", item, "normal", "u", "x", "y", preferred="a"),
                  VoteRecord("good2", item, "normal", "u", "x", "y", preferred="a"),
                  VoteRecord("good3", item, "normal", "u", "x", "y", preferred="a"),
                  VoteRecord("contrarian", item, "normal", "u", "x", "y", preferred="b")]
    agreement = analysis.rater_agreement(votes, "ab")
    assert agreement["contrarian"] == (0.0, 5)
    assert agreement["good1"] == (1.0, 5)


def test_correlation_matches_scipy() -> None:
    listening = {i: float(v) for i, v in enumerate([1, 2, 3, 4, 5, 7])}
    metrics = {i: {"pesq": m} for i, m in enumerate([1.2, 1.9, 3.5, 3.1, 4.8, 4.9])}
    (row,) = analysis.correlate(listening, metrics)
    x, y = list(listening.values()), [m["pesq"] for m in metrics.values()]
    assert row["spearman"] == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    assert row["pearson"] == pytest.approx(scipy_stats.pearsonr(x, y).statistic)
    assert row["n"] == 6
