"""Real embedded models on the fixture speech set: speaker similarity, ASR WER, DNSMOS, fallbacks reported."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from eval.metrics import MetricInputs, Scorer
from eval.metrics.speaker import speaker_similarity
from lab import model_sources, models
from lab.audio import Audio

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def offline_scorer(tmp_path_factory: pytest.TempPathFactory) -> Scorer:
    """The default Scorer as it runs offline with no checkpoints: hub models fall back to embedded ones."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOICELAB_CHECKPOINTS", str(tmp_path_factory.mktemp("checkpoints")))
        mp.setenv("VOICELAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        model_sources.hub_reachable.cache_clear()
        models._load_cached.cache_clear()
        scorer = Scorer()
        for role in ("asr", "speaker", "quality"):
            scorer.model(role)  # load now, under this environment
        yield scorer
    model_sources.hub_reachable.cache_clear()
    models._load_cached.cache_clear()


def _with_noise(audio: Audio, snr_db: float, seed: int = 0) -> Audio:
    """``audio`` plus white noise at ``snr_db``, peak-scaled back into [-1, 1]."""
    x = audio.samples.astype(np.float64)
    noise = np.random.default_rng(seed).standard_normal(len(x))
    noise *= math.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    y = x + noise
    return Audio((y / np.max(np.abs(y))).astype(np.float32), audio.sample_rate)


def test_offline_fallbacks_are_reported(offline_scorer: Scorer, speech_set) -> None:
    utt = speech_set[0]
    results = offline_scorer.score(MetricInputs(utt.audio, prompt=speech_set[1].audio, text=utt.text),
                                   ["wer", "speaker_sim", "dnsmos_ovrl"])
    assert results["wer"].model == "whisper-base-ct2"
    assert results["wer"].details["requested_model"] == "whisper-small"
    assert "whisper-small is unavailable" in results["wer"].details["fallback_reason"]
    assert results["speaker_sim"].model == "resemblyzer-ge2e"
    assert results["dnsmos_ovrl"].model == "dnsmos" and "fallback_reason" not in results["dnsmos_ovrl"].details
    provenance = offline_scorer.models()
    assert provenance["asr"]["requested"] == "whisper-small" and provenance["asr"]["used"] == "whisper-base-ct2"
    assert provenance["speaker"]["used"] == "resemblyzer-ge2e" and provenance["speaker"]["fallback_reason"]
    assert provenance["quality"]["sha256"]["speechmos/dnsmos_models/sig_bak_ovr.onnx"]


def test_same_speaker_pairs_beat_different_speaker_pairs(offline_scorer: Scorer, speech_by_speaker) -> None:
    encoder = offline_scorer.model("speaker").model
    embeddings = {s: [encoder.embed(u.audio) for u in utts] for s, utts in speech_by_speaker.items()}
    for speaker, own in embeddings.items():
        same = [float(a @ b) for a, b in itertools.combinations(own, 2)]
        different = [float(a @ b) for other, theirs in embeddings.items() if other != speaker
                     for a in own for b in theirs]
        assert min(same) > max(different), speaker


def test_scorer_and_public_function_agree_on_speaker_sim(offline_scorer: Scorer, speech_by_speaker) -> None:
    joe, slt = speech_by_speaker["joe"], speech_by_speaker["slt"]
    result = offline_scorer.score(MetricInputs(joe[0].audio, prompt=joe[1].audio), ["speaker_sim"])["speaker_sim"]
    value, used = speaker_similarity(joe[0].audio, joe[1].audio, model="resemblyzer-ge2e")
    assert (result.value, result.model) == (pytest.approx(value, abs=1e-6), used)
    assert speaker_similarity(joe[0].audio, slt[0].audio, model="resemblyzer-ge2e")[0] < value


def test_clean_fixture_corpus_wer_is_below_ten_percent(offline_scorer: Scorer, speech_set, monkeypatch) -> None:
    asr = offline_scorer.model("asr").model
    clips = []
    transcribe_many = asr.transcribe_many
    monkeypatch.setattr(asr, "transcribe_many", lambda audios: clips.extend(audios) or transcribe_many(audios))
    errors = words = 0
    for utt in speech_set:
        results = offline_scorer.score(MetricInputs(utt.audio, text=utt.text), ["wer", "cer"])
        wer, cer = results["wer"], results["cer"]
        assert wer.details["transcript"] == cer.details["transcript"]
        assert wer.details["alignment"] and wer.details["alignment_text"].startswith("REF:")
        errors += wer.details["errors"]
        words += wer.details["ref_units"]
    assert len(clips) == len(speech_set)  # one transcript per utterance serves WER and CER
    assert errors / words < 0.10


def test_batched_scoring_gives_each_utterance_its_own_transcript(offline_scorer: Scorer, speech_set) -> None:
    batch = [MetricInputs(utt.audio, text=utt.text) for utt in speech_set[:10]]
    alone = [offline_scorer.score(inputs, ["wer"])["wer"] for inputs in batch]
    together = [r["wer"] for r in offline_scorer.score_many(batch, ["wer"])]
    reordered = [r["wer"] for r in offline_scorer.score_many(batch[::-1], ["wer"])][::-1]
    transcripts = [r.details["transcript"] for r in alone]
    assert [r.details["transcript"] for r in together] == transcripts
    assert [r.details["transcript"] for r in reordered] == transcripts
    assert len(set(transcripts)) >= 4  # ten clips of four sentences: the clips were not mixed up


def test_unscorable_expected_text_is_an_error(offline_scorer: Scorer, speech_set) -> None:
    result = offline_scorer.score(MetricInputs(speech_set[0].audio, text="uh, um..."), ["wer"])["wer"]
    assert math.isnan(result.value)
    assert result.error.startswith("EmptyReferenceError") and result.details["transcript"]


def test_dnsmos_prefers_clean_speech_over_zero_db_noise(offline_scorer: Scorer, speech_by_speaker,
                                                        monkeypatch) -> None:
    model = offline_scorer.model("quality").model
    calls = []
    predict = model.predict
    monkeypatch.setattr(model, "predict", lambda audio: calls.append(1) or predict(audio))
    names = ["dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"]
    for speaker, utts in speech_by_speaker.items():
        clean = offline_scorer.score(MetricInputs(utts[0].audio), names)
        noisy = offline_scorer.score(MetricInputs(_with_noise(utts[0].audio, 0.0)), names)
        for name in ("dnsmos_ovrl", "dnsmos_bak", "dnsmos_p808"):
            assert clean[name].value > noisy[name].value, (speaker, name)
        assert all(1.0 <= r.value <= 5.0 for r in [*clean.values(), *noisy.values()])
    assert len(calls) == 2 * len(speech_by_speaker)  # one model call yields all four scores


def test_whisper_base_parts_are_assembled_and_verified(offline_scorer: Scorer) -> None:
    provenance = offline_scorer.models()["asr"]
    assert provenance["used"] == "whisper-base-ct2"
    from eval.metrics.asr_models import ASSEMBLED_SHA256, cache_root

    assembled = Path(cache_root()) / "whisper-base-ct2" / "model.bin"
    assert assembled.stat().st_size == sum(
        (Path(provenance["path"]) / rel).stat().st_size for rel in provenance["sha256"] if ".part" in rel)
    assert ASSEMBLED_SHA256["whisper-base-ct2"] == model_sources._sha256(
        assembled, assembled.stat().st_size, assembled.stat().st_mtime_ns)
