"""PESQ/STOI: P.862 conformance through our scorer, identity, delay removal, resampling, failures."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from eval.metrics import MetricInputs, Scorer
from eval.metrics.align import align, estimate_delay
from eval.metrics.intrusive import pesq_mos, stoi_score
from lab import audio
from lab.audio import Audio

# shared/ sits beside the checkout (as in CI); VOICELAB_P862_DIR points elsewhere
P862 = Path(os.environ.get("VOICELAB_P862_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "p862"))
P862_TABLE = P862 / "voipref_8k.txt"


def _p862_rows() -> list[tuple[str, str, float]]:
    if not P862_TABLE.is_file():
        return []
    rows = [line.split("\t") for line in P862_TABLE.read_text().splitlines()[1:] if line.strip()]
    return [(Path(ref).name, Path(deg).name, float(score)) for ref, deg, _rate, score in rows]


def _raw_p862(mos_lqo: float) -> float:
    """Inverse P.862.1 mapping: MOS-LQO back to the raw P.862 score (see the data README)."""
    return (4.6607 - math.log(4.0 / (mos_lqo - 0.999) - 1.0)) / 1.4945


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


@pytest.fixture(scope="module")
def speech(speech_set) -> Audio:
    return speech_set[1].audio  # joe_01, 16 kHz, ~3.2 s


def _padded(x: Audio, seconds: float, noise: float = 0.0) -> Audio:
    """``x`` after ``seconds`` of silence, plus white noise of std ``noise``."""
    out = np.concatenate([np.zeros(round(seconds * x.sample_rate), np.float32), x.samples])
    out = out + noise * np.random.default_rng(1).standard_normal(len(out)).astype(np.float32)
    return Audio(out.astype(np.float32), x.sample_rate)


def _delayed_pair(x: Audio, seconds: float, noise: float = 0.0) -> tuple[Audio, Audio]:
    """(reference, degraded): the degraded copy starts ``seconds`` later (negative: earlier), with noise."""
    if seconds >= 0:
        return x, _padded(x, seconds, noise)
    return _padded(x, -seconds), _padded(x, 0.0, noise)


def test_p862_conformance_data_is_present() -> None:
    assert len(_p862_rows()) == 40, f"P.862 conformance data not found at {P862}: set VOICELAB_P862_DIR"


@pytest.mark.parametrize(("ref_name", "deg_name", "expected"), _p862_rows(), ids=lambda v: str(v))
def test_p862_conformance_through_scorer(scorer: Scorer, ref_name: str, deg_name: str, expected: float) -> None:
    ref, deg = audio.load(P862 / ref_name), audio.load(P862 / deg_name)
    result = scorer.score(MetricInputs(deg, ref=ref), ["pesq_nb"])["pesq_nb"]
    assert result.error is None, result.error
    assert abs(_raw_p862(result.value) - expected) <= 0.001


def test_identical_signals_score_the_maximum(scorer: Scorer, speech: Audio) -> None:
    results = scorer.score(MetricInputs(speech, ref=speech), ["pesq_wb", "pesq_nb", "stoi", "estoi"])
    assert results["pesq_wb"].value == pytest.approx(4.64, abs=0.01)
    assert results["pesq_nb"].value == pytest.approx(4.55, abs=0.01)
    assert results["stoi"].value == pytest.approx(1.0, abs=1e-6)
    assert results["estoi"].value == pytest.approx(1.0, abs=1e-6)
    assert results["stoi"].details["delay_ms"] == 0.0


@pytest.mark.parametrize("delay_s", [0.2, -0.15, 0.0137, 0.45])
def test_delay_is_found_and_removed_for_stoi(scorer: Scorer, speech: Audio, delay_s: float) -> None:
    aligned_score, _ = stoi_score(speech, _padded(speech, 0.0, noise=0.01))
    ref, deg = _delayed_pair(speech, delay_s, noise=0.01)
    result = scorer.score(MetricInputs(deg, ref=ref), ["stoi"])["stoi"]
    assert result.details["delay_ms"] == pytest.approx(1000 * delay_s, abs=0.1)
    assert result.details["delay_removed"] is True
    assert result.details["uncovered_seconds"] == pytest.approx(max(-delay_s, 0.0), abs=0.001)
    assert result.value == pytest.approx(aligned_score, abs=0.01)


def test_missing_speech_costs_stoi_and_extra_audio_is_reported(scorer: Scorer, speech: Audio) -> None:
    half = Audio(speech.samples[: len(speech.samples) // 2].copy(), speech.sample_rate)
    results = scorer.score(MetricInputs(half, ref=speech), ["stoi", "estoi"])
    assert results["stoi"].value < 0.75 and results["estoi"].value < 0.6  # a perfect copy of half the words
    assert results["stoi"].details["uncovered_seconds"] == pytest.approx(speech.duration / 2, abs=0.01)
    extra = Audio(np.concatenate([speech.samples, speech.samples[::-1]]), speech.sample_rate)  # reversed after it
    result = scorer.score(MetricInputs(extra, ref=speech), ["stoi"])["stoi"]
    assert result.value == pytest.approx(1.0, abs=1e-6)  # STOI judges the reference's span only ...
    assert result.details["dropped_seconds"] == pytest.approx(speech.duration, abs=0.01)  # ... and says so


def test_a_delay_beyond_the_window_fails_stoi_by_name_and_pesq_still_runs(scorer: Scorer, speech: Audio) -> None:
    ref, deg = _delayed_pair(speech, 0.7, noise=0.001)
    results = scorer.score(MetricInputs(deg, ref=ref), ["stoi", "pesq_wb"])
    assert math.isnan(results["stoi"].value)
    assert "700 ms later than the reference; alignment removes at most 500 ms" in results["stoi"].error
    assert results["pesq_wb"].error is None and results["pesq_wb"].details["delay_ms"] is None


def test_other_voices_reading_the_same_sentence_are_not_taken_for_a_far_offset(speech_set) -> None:
    by_text: dict[str, list] = {}
    for utt in speech_set:
        by_text.setdefault(utt.text, []).append(utt)
    pairs = [(a, b) for group in by_text.values() for a in group for b in group if a is not b]
    assert len(pairs) >= 40
    for a, b in pairs:  # other timing, other voice: STOI is low, but it is a number
        estimate_delay(a.audio, b.audio)


def test_delay_is_recorded_but_left_to_pesq(scorer: Scorer, speech: Audio) -> None:
    deg = _padded(speech, 0.05, noise=0.001)
    result = scorer.score(MetricInputs(deg, ref=speech), ["pesq_wb"])["pesq_wb"]
    assert result.details == {"delay_ms": pytest.approx(50.0, abs=0.1), "delay_removed": False,
                              "alignment": "P.862 internal time alignment"}
    assert result.value == pesq_mos(speech, deg, "wb")  # the inputs reached P.862 untouched


@pytest.mark.parametrize("deg_rate", [8000, 22050, 48000])
def test_other_rates_are_resampled_to_the_metric_rate(speech: Audio, deg_rate: int) -> None:
    deg = _padded(speech, 0.1).resample(deg_rate)
    alignment = align(speech, deg, 16000)
    assert alignment.delay_ms == pytest.approx(100.0, abs=0.2)
    assert alignment.ref.sample_rate == alignment.deg.sample_rate == 16000
    assert len(alignment.ref.samples) == len(alignment.deg.samples)
    floor = 0.9 if deg_rate == 8000 else 0.99  # 8 kHz loses the 4-5 kHz band STOI still sees
    assert stoi_score(speech, deg)[0] > floor


def test_estimate_delay_needs_equal_rates(speech: Audio) -> None:
    with pytest.raises(ValueError, match="equal rates"):
        estimate_delay(speech, speech.resample(8000))


@pytest.mark.parametrize("metric", ["pesq_wb", "pesq_nb", "stoi", "estoi"])
def test_too_short_audio_fails_with_nan_and_a_message(scorer: Scorer, speech: Audio, metric: str) -> None:
    short = speech.slice(1.0, 1.1)
    result = scorer.score(MetricInputs(short, ref=short), [metric])[metric]
    assert math.isnan(result.value)
    assert result.error and len(result.error) > 10
    assert result.skipped is None


def test_silent_output_fails_pesq_instead_of_scoring_zero(scorer: Scorer, speech: Audio) -> None:
    silent = Audio(np.zeros_like(speech.samples), speech.sample_rate)
    result = scorer.score(MetricInputs(silent, ref=speech), ["pesq_wb"])["pesq_wb"]
    assert math.isnan(result.value)
    assert result.error.startswith("SilentSignalError: the degraded signal is digital silence")
    assert result.details == {} and estimate_delay(speech, silent) == 0


def test_estoi_of_an_output_with_a_dropout_is_the_same_every_time(scorer: Scorer, speech: Audio) -> None:
    samples = speech.samples.copy()
    samples[len(samples) // 3 : 2 * len(samples) // 3] = 0.0  # a silent third: pystoi's dither decides it
    dropout = Audio(samples, speech.sample_rate)
    np.random.seed(123)
    values = {scorer.score(MetricInputs(dropout, ref=speech), ["estoi"])["estoi"].value for _ in range(3)}
    assert len(values) == 1 and 0.3 < values.pop() < 0.9
    assert np.random.random() == np.random.RandomState(123).random_sample()  # the caller's generator is untouched


@pytest.mark.parametrize("metric", ["stoi", "estoi"])
def test_silent_output_scores_zero_stoi_the_same_every_time(scorer: Scorer, speech: Audio, metric: str) -> None:
    silent = Audio(np.zeros_like(speech.samples), speech.sample_rate)
    first, second = (scorer.score(MetricInputs(silent, ref=speech), [metric])[metric] for _ in range(2))
    assert first.value == second.value == 0.0
    assert first.details["degraded_silent"] is True
