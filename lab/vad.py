"""Where the speech is: Silero VAD (ONNX, embedded) for trimming references and measuring speech time.

A reference voice is judged by how much *speech* it holds, not by its file
length, and cloning works best on speech without long pauses. The model is the
checksum-verified ``silero-vad`` registry entry, run through the silero_vad
package's own ONNX wrapper and timestamp function.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab import models
from lab.audio import Audio

VAD_RATE = 16000
PAD_S = 0.1
MIN_SAMPLES = 512  # one Silero window at 16 kHz


@dataclass
class SileroVad:
    """The Silero ONNX model; the wrapper keeps recurrent state, so calls are serialised."""

    wrapper: object  # silero_vad.utils_vad.OnnxWrapper
    lock: threading.Lock = field(default_factory=threading.Lock)

    def segments(self, audio: Audio, threshold: float = 0.5, pad_s: float = PAD_S) -> list[tuple[float, float]]:
        """Speech regions of ``audio`` as (start_s, end_s), padded by ``pad_s`` on each side."""
        import torch
        from silero_vad import get_speech_timestamps

        samples = torch.from_numpy(audio.resample(VAD_RATE).samples)
        if len(samples) < MIN_SAMPLES:
            return []
        with self.lock:
            stamps = get_speech_timestamps(samples, self.wrapper, threshold=threshold, sampling_rate=VAD_RATE,
                                           speech_pad_ms=int(pad_s * 1000), return_seconds=False)
        return [(s["start"] / VAD_RATE, s["end"] / VAD_RATE) for s in stamps]


def load(root: Path, spec: models.ModelSpec) -> SileroVad:
    """Registry loader: the ONNX file of ``spec`` under site-packages ``root`` (already checksum-verified)."""
    from silero_vad.utils_vad import OnnxWrapper

    onnx = next(root / rel for rel in spec.files if rel.endswith(".onnx"))
    return SileroVad(OnnxWrapper(str(onnx), force_onnx_cpu=True))


def speech_segments(audio: Audio, threshold: float = 0.5) -> list[tuple[float, float]]:
    """Speech regions of ``audio`` in seconds, [(start_s, end_s), ...], in order (empty when silent)."""
    return models.load("silero-vad").model.segments(audio, threshold=threshold)


def speech_seconds(segments: list[tuple[float, float]]) -> float:
    """Total length of ``segments`` in seconds."""
    return float(sum(end - start for start, end in segments))


def trim(audio: Audio, segments: list[tuple[float, float]] | None = None) -> Audio:
    """Keep only the speech of ``audio`` (segments joined in order, pauses removed), at its own rate.

    Args:
        audio: any rate.
        segments: precomputed :func:`speech_segments` of ``audio``; computed when None.

    Returns:
        The speech-only audio; zero-length when no speech was found.
    """
    segments = speech_segments(audio) if segments is None else segments
    parts = [audio.slice(start, end).samples for start, end in segments]
    samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return Audio(samples.astype(np.float32), audio.sample_rate)
