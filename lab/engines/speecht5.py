"""SpeechT5 text-to-speech with an x-vector speaker embedding: the hub engine for zero-shot cloning.

Stages, named as in the method: ``embed_speaker`` (SpeechBrain x-vector of the
reference, 512-d, L2-normalised) -> ``generate_speech`` (SpeechT5 text encoder
and autoregressive mel decoder) -> ``vocode`` (SpeechT5 HiFi-GAN, 16 kHz).
The decoder pre-net keeps dropout on at inference, so output is stochastic:
a seed makes it repeatable. The vocoder and the x-vector model are their own
registry entries, loaded without fallback: an embedded substitute (22.05 kHz
HiFi-GAN, 256-d GE2E) does not fit SpeechT5's mels or speaker space.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab import models
from lab.audio import Audio
from lab.text import split_sentences

log = logging.getLogger(__name__)

VOCODER = "speecht5-hifigan"
SPEAKER_ENCODER = "xvector-voxceleb"


def pick_device() -> str:
    """"cuda" when a CUDA GPU is present, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class SpeechT5Engine:
    """SpeechT5 acoustic model + processor + HiFi-GAN vocoder + x-vector encoder on one device."""

    processor: Any  # transformers.SpeechT5Processor
    model: Any  # transformers.SpeechT5ForTextToSpeech
    vocoder: models.Loaded
    speaker_encoder: models.Loaded
    device: str
    sample_rate: int = 16000
    max_length_ratio: float = 20.0  # decoder steps per input token at most: stops a decoder that never says "stop"
    clones = True
    controls = frozenset({"seed"})
    components: dict[str, Any] = field(default_factory=dict)

    def prepare_voice(self, reference: Audio) -> np.ndarray:
        """The reference's x-vector (see :meth:`embed_speaker`)."""
        return self.embed_speaker(reference)

    def embed_speaker(self, reference: Audio) -> np.ndarray:
        """x-vector of ``reference`` (any rate; resampled to 16 kHz), shape (512,), unit length."""
        vector = np.asarray(self.speaker_encoder.model.embed(reference.resample(16000)), dtype=np.float32).reshape(-1)
        expected = int(self.model.config.speaker_embedding_dim)
        if vector.shape[0] != expected:
            raise ValueError(f"{self.speaker_encoder.name} gives {vector.shape[0]}-d embeddings; "
                             f"SpeechT5 needs {expected}-d x-vectors.")
        return vector / max(float(np.linalg.norm(vector)), 1e-8)

    def stream(self, text: str, voice: np.ndarray | Audio | None = None, speed: float = 1.0,
               seed: int | None = None) -> Iterator[Audio]:
        """Yield one 16 kHz Audio per sentence of ``text`` in the voice of ``voice``.

        Args:
            text: normalised text (lab.text.prepare).
            voice: an x-vector from :meth:`prepare_voice` (512,) or a reference Audio.
            speed: must be 1.0 (SpeechT5 has no rate control).
            seed: seeds torch before each sentence (the decoder pre-net dropout is random).

        Raises:
            ValueError: no voice, or speed other than 1.0.
        """
        import torch

        if voice is None:
            raise ValueError("SpeechT5 needs a reference voice (an enrolled voice or a recording).")
        if speed != 1.0:
            raise ValueError("SpeechT5 has no speed control; use speed 1.0 or the Piper engine.")
        vector = self.prepare_voice(voice) if isinstance(voice, Audio) else voice
        speaker = torch.from_numpy(vector).unsqueeze(0).to(self.device)
        limit = int(self.model.config.max_text_positions) - 1
        for index, sentence in enumerate(split_sentences(text)):
            if seed is not None:
                torch.manual_seed(seed + index)
            ids = self.processor(text=sentence, return_tensors="pt")["input_ids"][:, :limit].to(self.device)
            with torch.inference_mode():
                mel = self.model.generate_speech(ids, speaker, maxlenratio=self.max_length_ratio)
                wave = self.vocode(mel)
            yield Audio(wave, self.sample_rate)

    def vocode(self, mel: Any) -> np.ndarray:
        """HiFi-GAN: mel frames (frames, 80) tensor -> waveform samples (T,) float32 at 16 kHz."""
        import torch

        with torch.inference_mode():
            wave = self.vocoder.model(mel.to(self.device))
        return np.ascontiguousarray(wave.reshape(-1).float().cpu().numpy(), dtype=np.float32)


def load_tts(path: Path, spec: models.ModelSpec) -> SpeechT5Engine:
    """Registry loader for ``speecht5-tts``: processor + model from ``path``, vocoder and x-vector by name.

    Raises:
        ModelUnavailable: the vocoder or x-vector model cannot be had (no fallback: they must match SpeechT5).
    """
    from transformers import SpeechT5ForTextToSpeech, SpeechT5Processor

    device = pick_device()
    processor = SpeechT5Processor.from_pretrained(path)
    model = SpeechT5ForTextToSpeech.from_pretrained(path).to(device).eval()
    vocoder = models.load(VOCODER, allow_fallback=False)
    encoder = models.load(SPEAKER_ENCODER, allow_fallback=False)
    rate = int(getattr(vocoder.model.config, "sampling_rate", spec.sample_rate or 16000))
    log.info("SpeechT5 TTS on %s", device)
    return SpeechT5Engine(processor, model, vocoder, encoder, device, rate,
                          components={"vocoder": vocoder.provenance(), "speaker_encoder": encoder.provenance(),
                                      "device": device})


def load_vocoder(path: Path, spec: models.ModelSpec) -> Any:
    """Registry loader for ``speecht5-hifigan``: the SpeechT5 HiFi-GAN on the automatic device, eval mode."""
    from transformers import SpeechT5HifiGan

    return SpeechT5HifiGan.from_pretrained(path).to(pick_device()).eval()
