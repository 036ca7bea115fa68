"""lab.engines.speecht5 end to end on tiny random SpeechT5 + HiFi-GAN + x-vector checkpoints (the hub code path).

The checkpoints are built from the real transformers/SpeechBrain classes and
saved into a temporary checkpoints/ folder; the processor's tokenizer is a
tiny character-level SentencePiece model trained here, offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_speecht5 import EMBED_DIM, HOP, save_tiny_vocoder_and_xvector

from lab import models, tts
from lab.audio import Audio

pytestmark = pytest.mark.slow



def build_tiny_speecht5(root: Path, xvector_dim: int = EMBED_DIM) -> None:
    """Save tiny random speecht5-tts, speecht5-hifigan and xvector-voxceleb checkpoints under ``root``."""
    import sentencepiece as spm
    import torch
    from transformers import (
        SpeechT5Config,
        SpeechT5FeatureExtractor,
        SpeechT5ForTextToSpeech,
        SpeechT5Processor,
        SpeechT5Tokenizer,
    )

    torch.manual_seed(0)
    corpus = root / "spm-corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. hello world, how are you? yes!\n" * 10)
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(root / "spm_char"), vocab_size=40,
                                   model_type="char", bos_id=0, pad_id=1, eos_id=2, unk_id=3, minloglevel=2)
    tokenizer = SpeechT5Tokenizer(vocab_file=str(root / "spm_char.model"))
    config = SpeechT5Config(
        vocab_size=len(tokenizer), hidden_size=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, speech_decoder_prenet_units=32,
        speech_decoder_postnet_units=32, speech_decoder_postnet_layers=2, speaker_embedding_dim=EMBED_DIM,
        max_text_positions=120, max_speech_positions=600, encoder_max_relative_position=16)
    model = SpeechT5ForTextToSpeech(config)
    with torch.no_grad():  # never predict "stop": decode to the length limit, so every step's dropout counts
        model.speech_decoder_postnet.prob_out.bias.fill_(-20.0)
    tts_dir = root / "speecht5-tts"
    model.save_pretrained(tts_dir)
    SpeechT5Processor(feature_extractor=SpeechT5FeatureExtractor(), tokenizer=tokenizer).save_pretrained(tts_dir)
    save_tiny_vocoder_and_xvector(root, xvector_dim)


@pytest.fixture
def tiny_speecht5(tmp_checkpoints: Path) -> Path:
    """Tiny SpeechT5 checkpoints in the temporary checkpoints/ folder."""
    build_tiny_speecht5(tmp_checkpoints)
    models.load("speecht5-tts").model.max_length_ratio = 4.0  # the random decoder never stops: keep outputs short
    return tmp_checkpoints


def test_speecht5_clones_sentence_by_sentence_with_provenance(tiny_speecht5: Path, speech_by_speaker) -> None:
    reference = speech_by_speaker["slt"][0].audio
    assert models.resolve("speecht5-tts").location == "checkpoints"
    assert models.default_for("clone") == "speecht5-tts"  # the hub engine is preferred when it resolves
    job = tts.start("Hi. How are you? Yes!", voice=reference, seed=5)
    parts = list(job.parts())
    assert len(parts) == 3  # one Audio per sentence, streamed in order
    for part in parts:
        assert isinstance(part, Audio) and part.sample_rate == 16000
        assert part.samples.dtype == np.float32 and part.samples.ndim == 1
        assert len(part.samples) > 0 and len(part.samples) % HOP == 0
    result = job.result(check=False)
    assert result.model["used"] == "speecht5-tts" and result.model["location"] == "checkpoints"
    components = result.extra["components"]
    assert components["vocoder"]["used"] == "speecht5-hifigan" and components["vocoder"]["location"] == "checkpoints"
    assert components["speaker_encoder"]["used"] == "xvector-voxceleb"
    assert components["device"] == "cpu"
    assert result.audio.duration == pytest.approx(sum(p.duration for p in parts))


def test_seed_makes_the_stochastic_decoder_repeatable(tiny_speecht5: Path, speech_by_speaker) -> None:
    reference = speech_by_speaker["awb"][0].audio
    first = tts.synthesize("Hi.", engine="speecht5-tts", voice=reference, seed=11)
    again = tts.synthesize("Hi.", engine="speecht5-tts", voice=reference, seed=11)
    other = tts.synthesize("Hi.", engine="speecht5-tts", voice=reference, seed=12)
    assert np.array_equal(first.audio.samples, again.audio.samples)
    assert not np.array_equal(first.audio.samples, other.audio.samples)
    engine = models.load("speecht5-tts").model
    vector = engine.prepare_voice(reference)
    assert vector.shape == (EMBED_DIM,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_speed_is_reported_as_unsupported(tiny_speecht5: Path, speech_by_speaker) -> None:
    result = tts.synthesize("Hi.", engine="speecht5-tts", voice=speech_by_speaker["kal"][0].audio, speed=1.5)
    assert any("speed=1.5 ignored" in note for note in result.extra["notes"])


def test_speecht5_needs_a_reference_voice(tiny_speecht5: Path) -> None:
    with pytest.raises(ValueError, match="speaks in a reference voice"):
        tts.start("Hello.", engine="speecht5-tts")


def test_missing_vocoder_is_not_replaced_by_a_mismatched_one(tiny_speecht5: Path) -> None:
    import shutil

    shutil.rmtree(tiny_speecht5 / "speecht5-hifigan")
    models._load_cached.cache_clear()
    with pytest.raises(models.ModelUnavailable, match="speecht5-hifigan"):
        models.load("speecht5-tts", allow_fallback=False)


def test_wrong_size_speaker_embedding_is_a_clear_error(tmp_checkpoints: Path, speech_by_speaker) -> None:
    build_tiny_speecht5(tmp_checkpoints, xvector_dim=8)
    with pytest.raises(ValueError, match="8-d embeddings; SpeechT5 needs 16-d"):
        tts.start("Hello.", engine="speecht5-tts", voice=speech_by_speaker["rms"][0].audio)
