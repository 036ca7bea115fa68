"""Speaker similarity: cosine of speaker embeddings of the output and the target speaker's prompt.

Scores from different encoders live on different scales (GE2E same-speaker
pairs sit near 0.8-0.9, ECAPA near 0.5-0.7): every value carries the name of
the encoder that produced it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from eval.metrics.core import MetricInputs, MetricResult
from lab import models
from lab.audio import Audio


class Embedder(Protocol):
    """A speaker encoder wrapper (eval.metrics.speaker_models)."""

    def embed(self, audio: Audio) -> np.ndarray:
        """Unit-length embedding of ``audio``, shape (D,)."""


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors of shape (D,), in [-1, 1]."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def speaker_similarity(a: Audio, b: Audio, model: str = "ecapa-voxceleb",
                       allow_fallback: bool = True) -> tuple[float, str]:
    """Cosine similarity of the speaker embeddings of ``a`` and ``b``.

    Args:
        a, b: speech, any rates.
        model: registry name of the speaker encoder.
        allow_fallback: use the embedded encoder when ``model`` is unavailable.

    Returns:
        (similarity in [-1, 1], registry name of the encoder that actually ran).

    Raises:
        ModelUnavailable: no encoder can be loaded.
        ValueError: an input holds no speech the encoder can use.
    """
    loaded = models.load(model, allow_fallback=allow_fallback)
    return cosine(loaded.model.embed(a), loaded.model.embed(b)), loaded.name


def score(names: list[str], inputs: MetricInputs, model: Embedder) -> dict[str, MetricResult]:
    """speaker_sim of ``inputs.deg`` against ``inputs.prompt`` with the given encoder."""
    assert inputs.prompt is not None, "callers skip speaker_sim without a prompt"
    value = cosine(model.embed(inputs.deg), model.embed(inputs.prompt))
    return {name: MetricResult(name, value) for name in names}
