"""kNN-VC (Baas et al. 2023) with WavLM content features and the embedded HiFi-GAN vocoder.

Stages, named as in the method: ``get_features`` (WavLM hidden states of one
layer, 20 ms frames) -> ``get_matching_set`` (target features plus the target's
log-mel frame at each feature frame) -> ``match`` (each source frame takes the
mean over its k nearest target frames by cosine similarity) -> ``vocode``. The
original vocoder is trained on WavLM features and is not on the hub; here the
*mels* of the matched target frames are averaged instead and rendered by the
embedded HiFi-GAN universal vocoder, so any WavLM checkpoint works with no
extra weights. Offline files only (WavLM attends over the whole utterance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lab import models
from lab.audio import Audio
from lab.engines.hifigan import HifiganVocoder

VOCODER = "hifigan-universal"
FEATURE_RATE = 16000
LAYER = 6  # WavLM-Large layer 6 carries content and little speaker identity (kNN-VC paper)
TOP_K = 4


@dataclass(frozen=True)
class MatchingSet:
    """Target frames: unit-length WavLM features and the target's log-mel at the same instants.

    Attributes:
        features: (N, D) float32, unit length.
        mels: (N, n_mels) float32 log-mel (HiFi-GAN convention).
    """

    features: np.ndarray
    mels: np.ndarray


@dataclass
class KnnVcEngine:
    """WavLM + k-NN matching + HiFi-GAN; see the module docstring."""

    wavlm: Any  # transformers.WavLMModel, eval mode
    vocoder: models.Loaded
    layer: int
    sample_rate: int = FEATURE_RATE
    offline_only: bool = True
    k: int = TOP_K

    def get_features(self, audio: Audio) -> np.ndarray:
        """(frames, D) float32 WavLM features of ``audio`` (resampled to 16 kHz), one per 20 ms."""
        import torch

        x = torch.from_numpy(audio.resample(FEATURE_RATE).samples)[None]
        with torch.inference_mode():
            hidden = self.wavlm(x, output_hidden_states=True).hidden_states[self.layer]
        return hidden[0].numpy().astype(np.float32)

    def prepare_target(self, reference: Audio) -> MatchingSet:
        """The matching set of a target reference (see :meth:`get_matching_set`)."""
        return self.get_matching_set(reference)

    def get_matching_set(self, reference: Audio) -> MatchingSet:
        """Target WavLM frames with the target log-mel frame nearest in time to each."""
        vocoder: HifiganVocoder = self.vocoder.model
        features = self.get_features(reference)
        mel = vocoder.mel(reference)
        times = (np.arange(len(features)) + 0.5) * 0.02
        mel_index = np.round(times * vocoder.sample_rate / vocoder.hop_samples).astype(int)
        mel_index = np.clip(mel_index, 0, mel.shape[1] - 1)
        return MatchingSet(_unit(features), np.ascontiguousarray(mel[:, mel_index].T))

    def match(self, source_features: np.ndarray, matching: MatchingSet) -> np.ndarray:
        """(frames, n_mels): mean target log-mel of the k most cosine-similar target frames per source frame."""
        k = min(self.k, len(matching.features))
        similarity = _unit(source_features) @ matching.features.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        return matching.mels[nearest].mean(axis=1)

    def vocode(self, frames: np.ndarray, duration: float) -> Audio:
        """Render 20 ms log-mel frames as ``duration`` seconds of 16 kHz audio with the HiFi-GAN."""
        vocoder: HifiganVocoder = self.vocoder.model
        n_out = max(int(np.ceil(duration * vocoder.sample_rate / vocoder.hop_samples)), 1)
        positions = np.clip((np.arange(n_out) + 0.5) * vocoder.hop_samples / vocoder.sample_rate / 0.02 - 0.5,
                            0, len(frames) - 1)
        mel = np.stack([np.interp(positions, np.arange(len(frames)), band) for band in frames.T])
        audio = vocoder.vocode(mel).resample(FEATURE_RATE)
        n = round(duration * FEATURE_RATE)
        return Audio(np.pad(audio.samples, (0, max(n - len(audio.samples), 0)))[:n], FEATURE_RATE)

    def convert(self, source: Audio, matching: MatchingSet) -> tuple[Audio, dict[str, Any]]:
        """Convert a whole recording; returns 16 kHz Audio of the source's duration and extra facts."""
        start = time.perf_counter()
        matched = self.match(self.get_features(source), matching)
        out = self.vocode(matched, source.duration)
        return out, {"layer": self.layer, "k": self.k, "vocoder": self.vocoder.provenance(),
                     "target_frames": len(matching.features), "convert_seconds": time.perf_counter() - start}

    def streamer(self, matching: MatchingSet, chunk_ms: int = 20) -> Any:
        """kNN-VC is offline only (see :attr:`offline_only`)."""
        raise ValueError("knn-vc-wavlm converts whole files only; use world-knn for live conversion.")


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)).astype(np.float32)


def load(path: Path, spec: models.ModelSpec) -> KnnVcEngine:
    """Registry loader: WavLM from ``path`` (checkpoints/knn-vc-wavlm or the HF snapshot) + the embedded HiFi-GAN.

    The feature layer is 6 (kNN-VC's choice for WavLM-Large), or the last layer of a smaller model.
    """
    from transformers import WavLMModel

    wavlm = WavLMModel.from_pretrained(path).eval()
    vocoder = models.load(VOCODER, allow_fallback=False)
    return KnnVcEngine(wavlm, vocoder, min(LAYER, int(wavlm.config.num_hidden_layers)))
