"""Find and remove a constant delay between a reference and a degraded signal.

STOI compares short-time envelopes frame by frame, so a delay of a few tens
of milliseconds (a codec, a converter's look-ahead, a recording chain) ruins
the score although nothing is wrong with the speech. The delay is found on
amplitude envelopes (robust to phase changes of vocoders and codecs) and
refined on the waveform.

After the shift the degraded signal is laid over the reference's whole span:
reference time the degraded signal does not cover counts as silence (missing
speech must cost intelligibility, not vanish from the comparison), and degraded
audio outside the reference's span has nothing to be compared with and is
dropped; both amounts are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from lab.audio import Audio

MAX_DELAY_S = 0.5
_ENVELOPE_RATE = 1000  # Hz: 1 ms resolution for the coarse search
# An offset beyond the window is reported only when the envelopes clearly say so: their correlation there
# (normalised by both envelopes' norms) is high in absolute terms and well above the best inside the window.
# Measured: a copy delayed 0.7 s peaks at 0.96; different voices or paces reading the same sentence have
# far peaks of 0.13-0.21 (lower than, or about equal to, their best inside the window).
FAR_PEAK_MIN = 0.5
FAR_PEAK_MARGIN = 0.2


@dataclass(frozen=True)
class Alignment:
    """A pair laid over the reference's span.

    Attributes:
        ref: reference audio at the alignment rate, whole.
        deg: degraded audio shifted by the delay, at the same rate and the same length as ``ref``.
        delay_samples: how many samples ``deg`` lags ``ref`` (negative: it leads).
        uncovered_samples: reference samples with no degraded signal against them (filled with silence).
        dropped_samples: degraded samples outside the reference's span (left out).
    """

    ref: Audio
    deg: Audio
    delay_samples: int
    uncovered_samples: int = 0
    dropped_samples: int = 0

    @property
    def delay_ms(self) -> float:
        """The removed delay in milliseconds (positive: the degraded signal was late)."""
        return 1000.0 * self.delay_samples / self.ref.sample_rate

    @property
    def covered_seconds(self) -> float:
        """Seconds of the reference the degraded signal covers after the shift."""
        return (len(self.ref.samples) - self.uncovered_samples) / self.ref.sample_rate


class DelayTooLargeError(ValueError):
    """The signals are offset by more than the aligner removes."""


def estimate_delay(ref: Audio, deg: Audio, max_delay_s: float = MAX_DELAY_S) -> int:
    """Estimate how many samples ``deg`` lags ``ref`` (both at the same rate).

    Args:
        ref: reference, shape (T1,).
        deg: degraded signal, shape (T2,), same sample rate as ``ref``.
        max_delay_s: largest delay searched, seconds, in both directions.

    Returns:
        Delay in samples of ``ref.sample_rate``; positive when ``deg`` starts later;
        0 when either signal is constant (silence).

    Raises:
        ValueError: the rates differ.
        DelayTooLargeError: the envelopes match clearly best at an offset beyond ``max_delay_s`` (the best
            offset within the window would be a wrong one); see FAR_PEAK_MIN.
    """
    if ref.sample_rate != deg.sample_rate:
        raise ValueError(f"estimate_delay needs equal rates, got {ref.sample_rate} and {deg.sample_rate} Hz")
    rate = ref.sample_rate
    hop = max(rate // _ENVELOPE_RATE, 1)
    ref_env, deg_env = _envelope(ref.samples, hop), _envelope(deg.samples, hop)
    if not (np.any(ref_env) and np.any(deg_env)):
        return 0  # a constant (silent) signal has no delay to find
    corr, lags = _correlation(ref_env, deg_env)
    corr /= np.linalg.norm(ref_env) * np.linalg.norm(deg_env)
    window = np.abs(lags) * hop <= max_delay_s * rate
    coarse, best = int(lags[window][np.argmax(corr[window])]), int(np.argmax(corr))
    if not window[best] and corr[best] >= FAR_PEAK_MIN and corr[best] >= corr[window].max() + FAR_PEAK_MARGIN:
        raise DelayTooLargeError(
            f"the degraded signal is {1000 * abs(lags[best]) * hop / rate:.0f} ms "
            f"{'later' if lags[best] > 0 else 'earlier'} than the reference; alignment removes at most "
            f"{1000 * max_delay_s:.0f} ms: trim it to the reference's start")
    return _best_lag(ref.samples, deg.samples, 2 * hop, centre=coarse * hop)


def align(ref: Audio, deg: Audio, rate: int, max_delay_s: float = MAX_DELAY_S) -> Alignment:
    """Resample both signals to ``rate``, remove their constant delay and lay ``deg`` over ``ref``'s span.

    Args:
        ref: reference audio (any rate).
        deg: degraded audio (any rate).
        rate: rate of the returned pair, Hz.
        max_delay_s: largest delay searched, seconds.

    Returns:
        The aligned pair, the delay that was removed, and how much of each signal found no counterpart.

    Raises:
        DelayTooLargeError: the offset exceeds ``max_delay_s``.
    """
    ref_r, deg_r = ref.resample(rate), deg.resample(rate)
    delay = estimate_delay(ref_r, deg_r, max_delay_s)
    n_ref, n_deg = len(ref_r.samples), len(deg_r.samples)
    # Reference sample t lies against degraded sample t + delay.
    first, last = max(0, -delay), min(n_ref, n_deg - delay)
    shifted = np.zeros(n_ref, np.float32)
    if last > first:
        shifted[first:last] = deg_r.samples[first + delay:last + delay]
    covered = max(last - first, 0)
    return Alignment(ref_r, Audio(shifted, rate), delay, n_ref - covered, n_deg - covered)


def _envelope(x: np.ndarray, hop: int) -> np.ndarray:
    """Mean absolute amplitude per block of ``hop`` samples, mean removed."""
    n = len(x) // hop
    env = np.abs(x[: n * hop].astype(np.float64)).reshape(n, hop).mean(axis=1)
    return env - env.mean()


def _correlation(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation of b against a at every lag, and the lags (positive: b later)."""
    corr = signal.correlate(b.astype(np.float64), a.astype(np.float64), mode="full", method="fft")
    return corr, signal.correlation_lags(len(b), len(a), mode="full")


def _best_lag(a: np.ndarray, b: np.ndarray, max_lag: int, centre: int = 0) -> int:
    """Lag in [centre - max_lag, centre + max_lag] maximising the cross-correlation of b against a."""
    corr, lags = _correlation(a, b)
    window = (lags >= centre - max_lag) & (lags <= centre + max_lag)
    if not window.any():
        return centre
    return int(lags[window][np.argmax(corr[window])])
