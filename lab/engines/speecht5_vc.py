"""SpeechT5 voice conversion (microsoft/speecht5_vc): speech in, speech in the x-vector's voice out.

Stages: ``embed_speaker`` (SpeechBrain x-vector of the target reference,
512-d, unit length -- the same embedding SpeechT5 TTS uses) ->
``generate_speech`` (SpeechT5 speech encoder over the source's log-mel features,
autoregressive mel decoder conditioned on the x-vector) -> ``vocode`` (SpeechT5
HiFi-GAN, 16 kHz). The vocoder and x-vector encoder are their own registry
entries, loaded without fallback: no embedded model fits SpeechT5's mels or
speaker space. Offline files only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lab import models
from lab.audio import Audio
from lab.engines.speecht5 import SPEAKER_ENCODER, VOCODER, pick_device

RATE = 16000
MAX_LENGTH_RATIO = 2.0  # decoder frames per encoder frame at most: stops a decoder that never says "stop"


@dataclass
class SpeechT5VcEngine:
    """Feature extractor + SpeechT5ForSpeechToSpeech + HiFi-GAN + x-vector encoder on one device."""

    feature_extractor: Any  # transformers.SpeechT5FeatureExtractor
    model: Any  # transformers.SpeechT5ForSpeechToSpeech
    vocoder: models.Loaded
    speaker_encoder: models.Loaded
    device: str
    sample_rate: int = RATE
    offline_only: bool = True
    max_length_ratio: float = MAX_LENGTH_RATIO
    seed: int = 0

    def prepare_target(self, reference: Audio) -> np.ndarray:
        """The reference's x-vector (see :meth:`embed_speaker`)."""
        return self.embed_speaker(reference)

    def embed_speaker(self, reference: Audio) -> np.ndarray:
        """x-vector of ``reference`` (any rate), shape (speaker_embedding_dim,), unit length.

        Raises:
            ValueError: the encoder's dimension differs from the model's speaker_embedding_dim.
        """
        vector = np.asarray(self.speaker_encoder.model.embed(reference.resample(RATE)), dtype=np.float32).reshape(-1)
        expected = int(self.model.config.speaker_embedding_dim)
        if vector.shape[0] != expected:
            raise ValueError(f"{self.speaker_encoder.name} gives {vector.shape[0]}-d embeddings; "
                             f"SpeechT5 needs {expected}-d x-vectors.")
        return vector / max(float(np.linalg.norm(vector)), 1e-8)

    def generate_speech(self, source: Audio, speaker: np.ndarray) -> Any:
        """(frames, 80) mel tensor of ``source``'s words in the voice of ``speaker``."""
        import torch

        inputs = self.feature_extractor(audio=source.resample(RATE).samples, sampling_rate=RATE, return_tensors="pt")
        torch.manual_seed(self.seed)  # the decoder pre-net keeps dropout on at inference
        with torch.inference_mode():
            return self.model.generate_speech(inputs["input_values"].to(self.device),
                                              torch.from_numpy(speaker)[None].to(self.device),
                                              maxlenratio=self.max_length_ratio)

    def vocode(self, mel: Any) -> Audio:
        """HiFi-GAN: (frames, 80) mel tensor -> 16 kHz Audio."""
        import torch

        with torch.inference_mode():
            wave = self.vocoder.model(mel.to(self.device))
        return Audio(np.ascontiguousarray(wave.reshape(-1).float().cpu().numpy(), dtype=np.float32), RATE)

    def convert(self, source: Audio, speaker: np.ndarray) -> tuple[Audio, dict[str, Any]]:
        """Convert a whole recording (its length may change: SpeechT5 decodes freely)."""
        start = time.perf_counter()
        audio = self.vocode(self.generate_speech(source, speaker))
        return audio, {"vocoder": self.vocoder.provenance(), "speaker_encoder": self.speaker_encoder.provenance(),
                       "device": self.device, "seed": self.seed, "convert_seconds": time.perf_counter() - start}

    def streamer(self, speaker: np.ndarray, chunk_ms: int = 20) -> Any:
        """SpeechT5-VC is offline only (see :attr:`offline_only`)."""
        raise ValueError("speecht5-vc converts whole files only; use world-knn for live conversion.")


def load_vc(path: Path, spec: models.ModelSpec) -> SpeechT5VcEngine:
    """Registry loader for ``speecht5-vc``: feature extractor + model from ``path``, vocoder and x-vector by name.

    Raises:
        ModelUnavailable: the vocoder or x-vector model cannot be had.
    """
    from transformers import SpeechT5FeatureExtractor, SpeechT5ForSpeechToSpeech

    device = pick_device()
    extractor = SpeechT5FeatureExtractor.from_pretrained(path)
    model = SpeechT5ForSpeechToSpeech.from_pretrained(path).to(device).eval()
    vocoder = models.load(VOCODER, allow_fallback=False)
    encoder = models.load(SPEAKER_ENCODER, allow_fallback=False)
    return SpeechT5VcEngine(extractor, model, vocoder, encoder, device)
