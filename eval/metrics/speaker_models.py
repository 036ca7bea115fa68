"""Speaker encoders: embed an utterance as a vector whose direction identifies the voice.

Wrappers expose ``embed(audio) -> np.ndarray`` (L2-normalised, float32) so the
voice library and the converters reuse the same encoders as the metric.
Registry loaders: ``load_resemblyzer`` (embedded GE2E) and ``load_speechbrain``
(ECAPA-TDNN / x-vector checkpoints in SpeechBrain's ``from_hparams`` layout).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np

from lab.audio import Audio
from lab.models import ModelSpec, ModelUnavailable

ENCODER_RATE = 16000
_CACHE_SIZE = 64  # prompts repeat across a run: their embeddings are reused


class SpeakerEncoder:
    """Base: resampling, L2 normalisation and a small cache of recent embeddings."""

    def __init__(self) -> None:
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def embed(self, audio: Audio) -> np.ndarray:
        """Speaker embedding of ``audio``.

        Args:
            audio: speech of one speaker, any rate (resampled to 16 kHz).

        Returns:
            Unit-length float32 vector, shape (D,) (256 for GE2E, 192 for ECAPA, 512 for x-vector).

        Raises:
            ValueError: the encoder produced a zero or non-finite vector (no speech).
        """
        key = hashlib.sha1(audio.samples.tobytes() + audio.sample_rate.to_bytes(4, "little")).digest()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        vector = np.asarray(self._raw_embedding(audio.resample(ENCODER_RATE)), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError("the speaker encoder returned an empty embedding (no speech in the audio?)")
        vector = vector / norm
        self._cache[key] = vector
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return vector

    def _raw_embedding(self, audio: Audio) -> np.ndarray:
        raise NotImplementedError


class ResemblyzerEncoder(SpeakerEncoder):
    """Resemblyzer's GE2E encoder (256-d), with its own loudness normalisation and silence trimming."""

    def __init__(self, weights: Path) -> None:
        super().__init__()
        from resemblyzer import VoiceEncoder

        self.encoder = VoiceEncoder(device="cpu", weights_fpath=weights, verbose=False)

    def _raw_embedding(self, audio: Audio) -> np.ndarray:
        from resemblyzer import preprocess_wav

        wav = preprocess_wav(audio.samples, source_sr=audio.sample_rate)
        if len(wav) == 0:
            raise ValueError("no speech left after Resemblyzer's silence trimming")
        return self.encoder.embed_utterance(wav)


class SpeechBrainEncoder(SpeakerEncoder):
    """A SpeechBrain ``EncoderClassifier`` (ECAPA-TDNN or x-vector) loaded from a local folder."""

    def __init__(self, model_dir: Path) -> None:
        super().__init__()
        from speechbrain.inference.classifiers import EncoderClassifier

        # The hub's hyperparams.yaml points `pretrained_path` at the hub repository: point it at this folder,
        # so the weights load from here offline. savedir=None: the files are used in place (no symlinks).
        hparams = (model_dir / "hyperparams.yaml").read_text(encoding="utf-8")
        overrides = {"pretrained_path": str(model_dir)} if re.search(r"^pretrained_path\s*:", hparams, re.M) else {}
        self.classifier = EncoderClassifier.from_hparams(
            source=str(model_dir), overrides=overrides, run_opts={"device": "cpu"})
        self.classifier.eval()

    def _raw_embedding(self, audio: Audio) -> np.ndarray:
        import torch

        with torch.inference_mode():
            emb = self.classifier.encode_batch(torch.from_numpy(audio.samples).unsqueeze(0))
        return emb.squeeze().cpu().numpy()


def load_resemblyzer(path: Path | None, spec: ModelSpec) -> ResemblyzerEncoder:
    """Registry loader for the embedded GE2E encoder (``path`` = site-packages root)."""
    if path is None:
        raise ModelUnavailable(f"{spec.name}: no package folder to load from")
    return ResemblyzerEncoder(path / next(iter(spec.files)))


def load_speechbrain(path: Path | None, spec: ModelSpec) -> SpeechBrainEncoder:
    """Registry loader for a SpeechBrain speaker encoder folder (hyperparams.yaml + embedding_model.ckpt)."""
    if path is None:
        raise ModelUnavailable(f"{spec.name}: no local folder to load from")
    return SpeechBrainEncoder(path)
