"""Pulse-by-pulse WORLD-style synthesis with explicit state, for streaming and offline alike.

pyworld.synthesize renders a whole signal at once and restarts its pulse train
on every call, so chunked calls would click and drift out of phase. Here each
glottal pulse is placed at an absolute sample position carried in the state,
shaped by a minimum-phase filter built from the (converted) envelope and
aperiodicity interpolated at that position, plus envelope-shaped noise for the
aperiodic part, and overlap-added into a tail buffer. The same calls render a
file or a live stream, sample for sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lab.engines.world_analysis import FFT_SIZE, FRAME, LOG_FLOOR, SAMPLE_RATE

UNVOICED_PERIOD = FRAME  # noise bursts every frame where there is no F0
NOISE_TABLE_SECONDS = 8
MAX_PERIOD = int(SAMPLE_RATE / 60) + 1


@dataclass
class SynthState:
    """Where the pulse train is and what is still ringing.

    Attributes:
        position: absolute index of the next output sample.
        next_pulse: absolute position (samples, fractional) of the next pulse.
        tail: (FFT_SIZE + MAX_PERIOD,) overlap-add buffer starting at ``position``.
    """

    position: int = 0
    next_pulse: float = 0.0
    tail: np.ndarray = field(default_factory=lambda: np.zeros(FFT_SIZE + MAX_PERIOD))


@dataclass(frozen=True)
class Track:
    """Converted parameters of consecutive frames starting at absolute frame ``first``.

    Attributes:
        first: absolute frame index of row 0 (frame i is centred at sample i * FRAME).
        f0: (N,) Hz, 0 = unvoiced.
        log_sp: (N, BINS) natural-log power envelope.
        ap: (N, BINS) aperiodicity in [0, 1].
    """

    first: int
    f0: np.ndarray
    log_sp: np.ndarray
    ap: np.ndarray


def noise_table(seed: int = 20261122) -> np.ndarray:
    """A fixed table of white Gaussian noise; read by absolute position so renders repeat exactly."""
    return np.random.default_rng(seed).standard_normal(NOISE_TABLE_SECONDS * SAMPLE_RATE)


def render(track: Track, n: int, state: SynthState, noise: np.ndarray) -> tuple[np.ndarray, SynthState]:
    """Render the next ``n`` output samples.

    Args:
        track: frames covering [state.position, state.position + n) plus one frame after.
        n: number of samples to produce.
        state: synthesis state from the previous call (consumed).
        noise: the table from :func:`noise_table`.

    Returns:
        (n,) float32 samples and the new state.
    """
    start, end = state.position, state.position + n
    pulses, periods, pulse = [], [], state.next_pulse
    while pulse < end:
        f0 = _f0_at(track, pulse)
        period = SAMPLE_RATE / f0 if f0 > 0 else UNVOICED_PERIOD
        pulses.append(pulse)
        periods.append(period if f0 > 0 else -period)
        pulse += period
    buf = np.zeros(n + len(state.tail))
    buf[: len(state.tail)] = state.tail
    if pulses:
        responses = _pulse_responses(track, np.array(pulses), np.array(periods), noise)
        for p, response in zip(pulses, responses, strict=True):
            offset = round(p) - start
            buf[offset : offset + FFT_SIZE] += response
    out = buf[:n].astype(np.float32)
    return out, SynthState(end, pulse, buf[n:].copy())


def _f0_at(track: Track, position: float) -> float:
    i = min(max(int(position // FRAME) - track.first, 0), len(track.f0) - 2)
    frac = position / FRAME - track.first - i
    a, b = track.f0[i], track.f0[i + 1]
    if a > 0 and b > 0:
        return float(a + (b - a) * frac)
    return float(a if frac < 0.5 else b)


def _interpolate(track: Track, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.clip((positions // FRAME).astype(int) - track.first, 0, len(track.f0) - 2)
    frac = np.clip(positions / FRAME - track.first - idx, 0.0, 1.0)[:, None]
    log_sp = track.log_sp[idx] * (1 - frac) + track.log_sp[idx + 1] * frac
    ap = track.ap[idx] * (1 - frac) + track.ap[idx + 1] * frac
    return log_sp, np.clip(ap, 0.001, 1.0)


def _minimum_phase(log_amplitude: np.ndarray) -> np.ndarray:
    """Minimum-phase spectra (rows, BINS) complex from natural-log amplitudes via the folded cepstrum."""
    cep = np.fft.irfft(log_amplitude, n=FFT_SIZE, axis=1)
    half = FFT_SIZE // 2
    cep[:, 1:half] *= 2.0
    cep[:, half + 1 :] = 0.0
    return np.exp(np.fft.rfft(cep, axis=1))


def _pulse_responses(track: Track, pulses: np.ndarray, periods: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """(P, FFT_SIZE) waveform of each pulse: periodic impulse + aperiodic noise, min-phase shaped."""
    log_sp, ap = _interpolate(track, pulses)
    voiced = periods > 0
    period = np.abs(periods)
    aperiodic_ratio = np.where(voiced[:, None], ap**2, 1.0)
    periodic_log = 0.5 * (log_sp + np.log(np.maximum(1.0 - aperiodic_ratio, LOG_FLOOR)) + np.log(period)[:, None])
    noise_log = 0.5 * (log_sp + np.log(aperiodic_ratio))
    excitation = np.zeros((len(pulses), FFT_SIZE))
    for row, (p, length) in enumerate(zip(pulses, period, strict=True)):
        idx = (round(p) + np.arange(int(np.ceil(length)))) % len(noise)
        excitation[row, : len(idx)] = noise[idx]
    noise_part = np.fft.irfft(np.fft.rfft(excitation, axis=1) * _minimum_phase(noise_log), n=FFT_SIZE, axis=1)
    periodic_part = np.fft.irfft(_minimum_phase(periodic_log), n=FFT_SIZE, axis=1)
    return np.where(voiced[:, None], periodic_part, 0.0) + noise_part
