"""The Scorer's contract without heavy models: registry metadata, skip reasons, errors, model checks."""

from __future__ import annotations

import math

import pytest

from eval.metrics import METRICS, MetricInputs, Scorer
from eval.metrics.scorer import FAMILIES
from lab.audio import Audio
from lab.models import ModelUnavailable

EXPECTED = ["pesq_wb", "pesq_nb", "stoi", "estoi", "speaker_sim", "wer", "cer",
            "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"]


@pytest.fixture(scope="module")
def speech(speech_set) -> Audio:
    return speech_set[0].audio


def test_registry_lists_every_metric_once_with_consistent_metadata() -> None:
    assert list(METRICS) == EXPECTED
    assert sorted(n for f in FAMILIES for n in f.names) == sorted(EXPECTED)
    for family in FAMILIES:
        for name in family.names:
            assert METRICS[name].model_role == family.role
    assert {n for n, m in METRICS.items() if m.needs_reference} == {"pesq_wb", "pesq_nb", "stoi", "estoi"}
    assert {n for n, m in METRICS.items() if not m.higher_is_better} == {"wer", "cer"}


def test_missing_inputs_are_skipped_with_reasons_and_load_no_model(speech: Audio) -> None:
    scorer = Scorer()
    results = scorer.score(MetricInputs(speech), ["pesq_wb", "stoi", "speaker_sim", "wer", "cer"])
    assert list(results) == ["pesq_wb", "stoi", "speaker_sim", "wer", "cer"]
    reasons = {name: r.skipped for name, r in results.items()}
    assert reasons == {
        "pesq_wb": "not applicable: no same-content reference audio",
        "stoi": "not applicable: no same-content reference audio",
        "speaker_sim": "not applicable: no speaker prompt audio",
        "wer": "not applicable: no expected text",
        "cer": "not applicable: no expected text",
    }
    assert all(math.isnan(r.value) and r.error is None for r in results.values())
    assert scorer.models() == {}


def test_blank_text_counts_as_missing(speech: Audio) -> None:
    result = Scorer().score(MetricInputs(speech, text="   "), ["wer"])["wer"]
    assert result.skipped == "not applicable: no expected text"


def test_unknown_metric_is_rejected(speech: Audio) -> None:
    with pytest.raises(ValueError, match=r"Unknown metric.*pesq_xx"):
        Scorer().score(MetricInputs(speech), ["pesq_xx"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"asr": "dnsmos"}, "'dnsmos' has role 'quality', not 'asr'"),
    ({"speaker": "nope"}, "Unknown model 'nope'"),
])
def test_wrong_model_names_fail_at_construction(kwargs: dict, message: str) -> None:
    with pytest.raises(ModelUnavailable, match=message):
        Scorer(**kwargs)


def test_unavailable_model_without_fallback_is_nan_with_the_fix(tmp_checkpoints, speech: Audio) -> None:
    scorer = Scorer(speaker="ecapa-voxceleb", allow_fallback=False)
    for _ in range(2):  # the load error is remembered, not retried per utterance
        result = scorer.score(MetricInputs(speech, prompt=speech), ["speaker_sim"])["speaker_sim"]
        assert math.isnan(result.value)
        assert result.skipped is None
        assert "ecapa-voxceleb" in result.error and "python -m lab fetch ecapa-voxceleb" in result.error
    assert scorer.models() == {}
