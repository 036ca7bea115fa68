"""A small, exact streaming converter for testing the streaming plumbing without real models.

:class:`OlaToyConverter` is a genuine frame-based spectral processor (sqrt-Hann STFT,
magnitude compression + spectral tilt, overlap-add, then a one-pole low-pass) with one hop of lookahead: the
same structure as a real converter, so re-blocking, latency accounting and boundary
continuity are tested for real. Its offline twin processes a whole signal with the
same frames, so a correct streaming wrapper reproduces it exactly.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy.signal import lfilter

from lab.audio import Audio
from lab.convert import Target

SMOOTHING = 0.85  # one-pole low-pass after overlap-add: a stateful stage, like a vocoder's filters


class OlaToyConverter:
    """Frame-based toy voice changer: hop ``hop_samples``, frame 2 x hop, lookahead one hop.

    Args:
        hop_samples: samples in and out per step.
        sample_rate: Hz.
        sleep_s: extra time spent per step (simulates a heavier converter).
    """

    def __init__(self, hop_samples: int = 320, sample_rate: int = 16000, sleep_s: float = 0.0) -> None:
        self.sample_rate = sample_rate
        self.hop_samples = hop_samples
        self.lookahead_samples = hop_samples
        self.sleep_s = sleep_s
        n = 2 * hop_samples
        self.window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
        freqs = np.fft.rfftfreq(n, 1 / sample_rate)
        self.tilt = (1.0 + freqs / 1000.0) ** -0.5  # darker voice

    def _frame(self, frame: np.ndarray) -> np.ndarray:
        spec = np.fft.rfft(frame * self.window)
        mag = np.abs(spec)
        shaped = np.power(mag, 0.8) * self.tilt * np.exp(1j * np.angle(spec))
        return (np.fft.irfft(shaped, len(frame)) * self.window).astype(np.float32)

    def initial_state(self) -> dict[str, np.ndarray]:
        """Previous input hop, the overlap-add tail and the low-pass memory, all zeros."""
        return {"previous": np.zeros(self.hop_samples, np.float32), "tail": np.zeros(self.hop_samples, np.float32),
                "lowpass": np.zeros(1)}

    def step(self, chunk: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Exactly one hop in and out; the output lags the input by one hop."""
        if len(chunk) != self.hop_samples:
            raise ValueError(f"expected {self.hop_samples} samples, got {len(chunk)}")
        if self.sleep_s:
            time.sleep(self.sleep_s)
        y = self._frame(np.concatenate([state["previous"], chunk]))
        out, lowpass = lfilter([1 - SMOOTHING], [1, -SMOOTHING], state["tail"] + y[: self.hop_samples],
                               zi=state["lowpass"])
        return out.astype(np.float32), {"previous": chunk.astype(np.float32).copy(),
                                        "tail": y[self.hop_samples :].copy(), "lowpass": lowpass}

    def offline(self, x: np.ndarray) -> np.ndarray:
        """The whole signal with the same frames (zero context before and after), aligned with ``x``."""
        h = self.hop_samples
        padded = np.zeros(h * (-(-len(x) // h) + 3), np.float32)
        padded[h : h + len(x)] = x
        out = np.zeros(len(padded), np.float32)
        for start in range(0, len(padded) - 2 * h + 1, h):
            out[start : start + 2 * h] += self._frame(padded[start : start + 2 * h])
        return lfilter([1 - SMOOTHING], [1, -SMOOTHING], out)[h : h + len(x)].astype(np.float32)


def toy_backend(sleep_s: float = 0.0) -> SimpleNamespace:
    """A stand-in for lab.convert (prepare_target + streamer) built on the toy converter."""

    def prepare_target(reference: Audio, engine: str = "toy") -> Target:
        if engine != "toy":
            raise ValueError(f"Unknown engine {engine!r}; the toy backend has 'toy'.")
        provenance = {"requested": engine, "used": "toy", "fallback_reason": None}
        return Target("toy", {"reference_seconds": reference.duration}, reference.duration, provenance)

    def streamer(target: Any, engine: str = "toy", chunk_ms: int = 20) -> OlaToyConverter:
        return OlaToyConverter(hop_samples=16 * chunk_ms, sleep_s=sleep_s)

    return SimpleNamespace(prepare_target=prepare_target, streamer=streamer)
