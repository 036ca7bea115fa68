"""Test signals and measurements shared by the audio tests: tones and frequency estimation."""

from __future__ import annotations

import numpy as np

from lab.audio import Audio


def tone(freq_hz: float, seconds: float, rate: int, amplitude: float = 0.5) -> Audio:
    """A sine of ``freq_hz`` lasting ``seconds`` at ``rate`` Hz, peak ``amplitude``."""
    t = np.arange(round(seconds * rate)) / rate
    return Audio((amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), rate)


def dominant_frequency(audio: Audio) -> float:
    """Frequency (Hz) of the strongest spectral peak.

    Hann window, 4x zero padding and parabolic interpolation of the log-magnitude
    peak: accurate to a few hundredths of a Hz on a tone of a second or more.
    """
    x = audio.samples.astype(np.float64)
    n_fft = 4 * len(x)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n_fft)) + 1e-20
    k = int(np.argmax(spectrum[1:-1])) + 1
    left, mid, right = np.log(spectrum[k - 1 : k + 2])
    offset = 0.5 * (left - right) / (left - 2 * mid + right)
    return (k + offset) * audio.sample_rate / n_fft
