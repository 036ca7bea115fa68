"""lab.vad: Silero VAD (embedded, checksum-verified) finds the speech and trims the silence around it."""

from __future__ import annotations

import numpy as np
import pytest

from lab import models, vad
from lab.audio import Audio

pytestmark = pytest.mark.slow


def _padded(speech: Audio, before_s: float, after_s: float, pause_s: float = 0.0) -> Audio:
    """``speech`` with silence (faint noise) before and after, and an optional pause in the middle."""
    rate = speech.sample_rate
    rng = np.random.default_rng(0)

    def quiet(seconds: float) -> np.ndarray:
        return (rng.standard_normal(int(seconds * rate)) * 1e-4).astype(np.float32)

    half = len(speech.samples) // 2
    parts = [quiet(before_s), speech.samples[:half], quiet(pause_s), speech.samples[half:], quiet(after_s)]
    return Audio(np.concatenate(parts).astype(np.float32), rate)


def test_speech_segments_locate_speech_between_silences(speech_by_speaker) -> None:
    speech = speech_by_speaker["slt"][0].audio
    padded = _padded(speech, before_s=1.5, after_s=2.0)
    segments = vad.speech_segments(padded)
    assert segments, "speech was not found"
    assert 1.5 - 0.3 <= segments[0][0] <= 1.5 + 0.4
    assert padded.duration - 2.0 - 0.4 <= segments[-1][1] <= padded.duration - 2.0 + 0.3
    assert vad.speech_seconds(segments) == pytest.approx(speech.duration, abs=0.6)


def test_trim_removes_leading_trailing_and_long_internal_silence(speech_by_speaker) -> None:
    speech = speech_by_speaker["rms"][1].audio
    padded = _padded(speech, before_s=1.0, after_s=1.0, pause_s=2.0)
    trimmed = vad.trim(padded)
    assert trimmed.sample_rate == padded.sample_rate
    assert trimmed.duration < padded.duration - 3.5
    assert trimmed.duration == pytest.approx(speech.duration, abs=0.7)


@pytest.mark.parametrize("samples", [np.zeros(16000 * 2, np.float32), np.zeros(100, np.float32)])
def test_silence_and_tiny_input_have_no_speech(samples: np.ndarray) -> None:
    silent = Audio(samples, 16000)
    assert vad.speech_segments(silent) == []
    assert vad.trim(silent).duration == 0.0


def test_any_rate_is_accepted(speech_by_speaker) -> None:
    speech = speech_by_speaker["joe"][0].audio.resample(44100)
    segments = vad.speech_segments(speech)
    assert vad.speech_seconds(segments) > 0.8 * speech.duration - 0.5


def test_model_comes_from_the_verified_registry_entry() -> None:
    loaded = models.load("silero-vad")
    assert loaded.resolution.location == "embedded"
    assert loaded.name == "silero-vad"
