"""SpeechT5-VC end to end on tiny random SpeechT5 speech-to-speech + HiFi-GAN + x-vector checkpoints.

The models are built from the real transformers/SpeechBrain classes and saved
into a temporary checkpoints/ folder (the hub code path, no downloads). With
random weights the speech is noise, so shapes, rate, length limits, seeding and
provenance are what is asserted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_speecht5 import EMBED_DIM, save_tiny_vocoder_and_xvector

from lab import convert, models

pytestmark = pytest.mark.slow


def build_tiny_speecht5_vc(root: Path) -> None:
    """Save tiny random speecht5-vc, speecht5-hifigan and xvector-voxceleb checkpoints under ``root``."""
    import torch
    from transformers import (
        SpeechT5Config,
        SpeechT5FeatureExtractor,
        SpeechT5ForSpeechToSpeech,
    )

    torch.manual_seed(0)
    config = SpeechT5Config(
        hidden_size=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, speech_decoder_prenet_units=32, speech_decoder_postnet_units=32,
        speech_decoder_postnet_layers=2, speaker_embedding_dim=EMBED_DIM, max_speech_positions=600,
        encoder_max_relative_position=16)
    model = SpeechT5ForSpeechToSpeech(config)
    with torch.no_grad():  # never predict "stop": decode to the length limit
        model.speech_decoder_postnet.prob_out.bias.fill_(-20.0)
    model.save_pretrained(root / "speecht5-vc")
    SpeechT5FeatureExtractor().save_pretrained(root / "speecht5-vc")
    save_tiny_vocoder_and_xvector(root)


def test_speecht5_vc_converts_with_tiny_checkpoints(tmp_checkpoints: Path, speech_by_speaker) -> None:
    build_tiny_speecht5_vc(tmp_checkpoints)
    models.load("speecht5-vc").model.max_length_ratio = 0.5  # the random decoder never stops: keep it short
    source = speech_by_speaker["rms"][0].audio.slice(0.3, 1.3)
    target = convert.prepare_target(speech_by_speaker["slt"][0].audio, engine="speecht5-vc")
    assert target.engine == "speecht5-vc" and target.data.shape == (EMBED_DIM,)
    assert np.linalg.norm(target.data) == pytest.approx(1.0, abs=1e-5)

    first = convert.convert(source, target, engine="speecht5-vc")
    again = convert.convert(source, target, engine="speecht5-vc")
    assert first.model["used"] == "speecht5-vc" and first.model["location"] == "checkpoints"
    assert first.extra["vocoder"]["used"] == "speecht5-hifigan"
    assert first.extra["speaker_encoder"]["used"] == "xvector-voxceleb"
    assert first.audio.sample_rate == 16000
    # the speech encoder downsamples by 320 (20 ms); the decoder emits reduction_factor (2) mel frames of
    # 256 samples per step, at most maxlenratio (here 0.5) steps per encoder frame
    encoder_frames = len(source.samples) // 320
    assert 0 < len(first.audio.samples) <= int(0.5 * encoder_frames) * 2 * 256 + 2 * 256
    assert np.all(np.isfinite(first.audio.samples))
    assert np.array_equal(first.audio.samples, again.audio.samples)  # seeded: the same input gives the same output
    with pytest.raises(ValueError, match="whole files only"):
        convert.streamer(target, engine="speecht5-vc")
