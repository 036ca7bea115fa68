"""kNN-VC end to end on a tiny random WavLM saved to checkpoints/knn-vc-wavlm (the hub code path).

The vocoder is the real embedded HiFi-GAN, so the output is real audio at the
right rate and length; with random WavLM weights the matching itself is
meaningless, which is why only shapes, rates, lengths and provenance are
asserted here (conversion quality is benchmarks/convert_quality.py's job).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lab import convert, models
from lab.audio import Audio

pytestmark = pytest.mark.slow


def save_tiny_wavlm(folder: Path) -> None:
    """A 2-layer, 32-wide random WavLM with the real 20 ms convolutional front end."""
    import torch
    from transformers import WavLMConfig, WavLMModel

    torch.manual_seed(0)
    config = WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    WavLMModel(config).save_pretrained(folder)


@pytest.fixture
def tiny_knn_vc(tmp_checkpoints: Path) -> Path:
    """checkpoints/knn-vc-wavlm holding a tiny random WavLM."""
    save_tiny_wavlm(tmp_checkpoints / "knn-vc-wavlm")
    return tmp_checkpoints


def test_knn_vc_converts_with_tiny_wavlm_and_embedded_hifigan(tiny_knn_vc: Path, speech_by_speaker) -> None:
    source = speech_by_speaker["rms"][0].audio.slice(0.3, 1.3)
    reference = speech_by_speaker["slt"][0].audio.slice(0.2, 2.2)
    target = convert.prepare_target(reference, engine="knn-vc-wavlm")
    result = convert.convert(source, target, engine="knn-vc-wavlm")
    assert result.model["used"] == "knn-vc-wavlm" and result.model["location"] == "checkpoints"
    assert result.model["fallback_reason"] is None
    assert result.extra["vocoder"]["used"] == "hifigan-universal"
    assert result.extra["layer"] == 2  # the tiny model's last layer (layer 6 on WavLM-Large)
    assert result.audio.sample_rate == 16000
    assert len(result.audio.samples) == len(source.samples)
    assert np.all(np.isfinite(result.audio.samples)) and np.max(np.abs(result.audio.samples)) > 1e-3
    # 2 s of target at WavLM's 20 ms frame rate, each paired with an 80-band log-mel frame
    assert target.data.features.shape == (99, 32) and target.data.mels.shape == (99, 80)

    engine = models.load("knn-vc-wavlm").model
    matched = engine.match(engine.get_features(source), target.data)
    assert matched.shape == (49, 80)
    # every matched frame is a mean of k target mel frames: inside the target's per-band range
    assert np.all(matched >= target.data.mels.min(axis=0) - 1e-5)
    assert np.all(matched <= target.data.mels.max(axis=0) + 1e-5)
    with pytest.raises(ValueError, match="whole files only"):
        convert.streamer(target, engine="knn-vc-wavlm")


def test_knn_vc_without_checkpoint_falls_back_to_world_knn_and_says_so(tmp_checkpoints: Path,
                                                                     speech_by_speaker) -> None:
    source = speech_by_speaker["rms"][0].audio.slice(0.3, 1.3)
    result = convert.convert(source, speech_by_speaker["slt"][0].audio, engine="knn-vc-wavlm")
    assert result.model["requested"] == "knn-vc-wavlm" and result.model["used"] == "world-knn"
    assert "unavailable" in result.model["fallback_reason"]
    assert isinstance(result.audio, Audio) and len(result.audio.samples) == len(source.samples)
