"""The embedded HiFi-GAN universal vocoder: its mel front end and a real round trip."""

from __future__ import annotations

import numpy as np
import pytest

from lab import models
from lab.audio import Audio

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vocoder():
    return models.load("hifigan-universal").model


def test_mel_matches_the_generator_config(vocoder, speech_by_speaker) -> None:
    speech = speech_by_speaker["awb"][0].audio.slice(0.5, 1.0)
    mel = vocoder.mel(speech)
    assert vocoder.sample_rate == 22050 and vocoder.hop_samples == 256
    assert mel.shape == (80, round(0.5 * 22050) // 256 + 1) and mel.dtype == np.float32
    assert mel.min() >= np.log(1e-7) - 1e-4  # clamp of the training recipe


def test_vocoding_a_mel_gives_back_audible_speech_of_the_same_length(vocoder, speech_by_speaker) -> None:
    speech = speech_by_speaker["awb"][0].audio.slice(0.5, 1.0).resample(22050)
    mel = vocoder.mel(speech)
    out = vocoder.vocode(mel)
    assert out.sample_rate == 22050 and len(out.samples) == mel.shape[1] * 256
    # a real generator reproduces the waveform's loudness contour: correlation of 20 ms energies
    frame = 441
    n = min(len(out.samples), len(speech.samples)) // frame * frame
    energy = lambda x: np.log(np.mean(x[:n].reshape(-1, frame) ** 2, axis=1) + 1e-9)  # noqa: E731
    assert np.corrcoef(energy(out.samples), energy(speech.samples))[0, 1] > 0.8


def test_wrong_mel_shape_is_refused(vocoder) -> None:
    with pytest.raises(ValueError, match="80"):
        vocoder.vocode(np.zeros((40, 10), np.float32))
    assert isinstance(vocoder.vocode(np.full((80, 2), -11.0, np.float32)), Audio)
