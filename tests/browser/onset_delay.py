"""Click-train probe signals and delay estimation by onset cross-correlation (for the mouth-to-ear tests).

A voice converter changes the timbre of whatever goes through it, so raw waveforms
do not correlate; the *onsets* of short voiced bursts survive. The probe is a
train of 60 ms harmonic bursts at irregular intervals, so the onset pattern has a
single correlation peak within its loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

BURST_S = 0.06
GAPS_S = (0.31, 0.47, 0.23, 0.59, 0.37, 0.29, 0.53, 0.41, 0.67, 0.33)  # irregular: one peak per loop
ENV_RATE = 1000  # envelope samples per second (1 ms resolution)


def click_train(rate: int = 48000) -> np.ndarray:
    """One loop of the probe: harmonic bursts (F0 140 Hz, like a voiced syllable) between silences."""
    t = np.arange(int(BURST_S * rate)) / rate
    burst = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12)) * np.hanning(len(t)) ** 0.25
    burst = (0.5 * burst / np.max(np.abs(burst))).astype(np.float32)
    parts = []
    for gap in GAPS_S:
        parts += [burst, np.zeros(int(gap * rate), np.float32)]
    return np.concatenate(parts)


def write_click_train(path: Path, rate: int = 48000) -> Path:
    """The probe as 16-bit PCM WAV (what Chromium's fake capture device reads)."""
    sf.write(path, click_train(rate), rate, subtype="PCM_16")
    return path


def onset_strength(x: np.ndarray, rate: int) -> np.ndarray:
    """Half-wave rectified rise of the log envelope, at ENV_RATE (shape (len(x) * ENV_RATE / rate,))."""
    hop = rate // ENV_RATE
    n = len(x) // hop
    frames = np.abs(x[: n * hop]).reshape(n, hop).max(axis=1)
    smooth = np.convolve(frames, np.ones(5) / 5, mode="same")
    log_env = np.log10(smooth + 1e-3)
    return np.maximum(np.diff(log_env, prepend=log_env[0]), 0.0)


def onset_delay_ms(sent: np.ndarray, played: np.ndarray, rate: int, max_delay_ms: int = 2500) -> tuple[float, float]:
    """Delay of ``played`` behind ``sent`` (same clock, same start) and the peak's prominence.

    Returns:
        (delay in ms, peak height / median of the correlation: > 3 means a clear peak).
    """
    a, b = onset_strength(sent, rate), onset_strength(played, rate)
    lags = np.arange(0, min(max_delay_ms, len(b) - 1))
    scores = np.array([np.dot(a[: len(b) - lag], b[lag:]) for lag in lags])
    best = int(np.argmax(scores))
    return float(lags[best] * 1000 / ENV_RATE), float(scores[best] / (np.median(scores) + 1e-9))


def onset_times_ms(x: np.ndarray, rate: int, min_gap_ms: int = 150) -> np.ndarray:
    """Times (ms) of burst onsets: strong rises of the log envelope, at least ``min_gap_ms`` apart."""
    strength = onset_strength(x, rate)
    threshold = 0.3 * strength.max() if strength.max() > 0 else np.inf
    times: list[int] = []
    for t in np.flatnonzero(strength > threshold):
        if not times or t - times[-1] >= min_gap_ms:
            times.append(int(t))
    return np.asarray(times) * 1000 / ENV_RATE


def delivered_fraction(sent: np.ndarray, played: np.ndarray, rate: int, delay_ms: float,
                       tolerance_ms: float = 30.0) -> float:
    """Share of sent bursts (those whose delayed copy falls inside the recording) heard at ``delay_ms``."""
    sent_t, played_t = onset_times_ms(sent, rate), onset_times_ms(played, rate)
    expected = sent_t + delay_ms
    expected = expected[expected < len(played) * 1000 / rate - 100]
    if not len(expected) or not len(played_t):
        return 0.0
    return float(np.mean([np.min(np.abs(played_t - e)) <= tolerance_ms for e in expected]))
