"""PESQ and STOI: metrics that compare the output with a same-content reference.

PESQ (``pesq`` package, the ITU-T P.862 reference code) gets the signals
exactly as given, only resampled when their rate is not the metric's: P.862
performs its own utterance-wise time alignment, and any trimming or padding
before it changes the score (the P.862 conformance pairs, whose delays vary
over time by up to ±0.5 s, stop agreeing with the table). The delay we
estimate is recorded for PESQ, not removed, so reports can flag it: P.862's
alignment copes with small offsets but not large ones (measured on a
near-clean fixture copy, PESQ-WB 3.26: unchanged at +0.15 s, 2.77 at +0.2 s,
2.49 at -0.1 s).

STOI (``pystoi``) has no alignment of its own: a 10 ms offset drops a perfect
copy from 1.0 to 0.88. The constant delay is removed first (eval.metrics.align)
and recorded, and the degraded signal is laid over the reference's whole span,
so speech missing from it lowers the score. A digitally silent degraded signal
scores 0 for both (STOI's envelope correlation with nothing). ESTOI adds a
tiny random dither from numpy's global generator; where the output has silent
stretches (dropouts, missing speech) that dither decides the score to the third
decimal, so it is drawn from a fixed seed: the same files give the same score
on every run and in every worker.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pesq as pesq_lib
from pystoi import stoi as pystoi_stoi

from eval.metrics.align import Alignment, DelayTooLargeError, align
from eval.metrics.core import MetricInputs, MetricResult, failed
from lab.audio import Audio

PESQ_RATES = {"wb": 16000, "nb": 8000}
STOI_RATE = 10000
ALIGN_RATE = 16000
NAMES = ("pesq_wb", "pesq_nb", "stoi", "estoi")
# A STOI input shorter than this has fewer than 30 analysis frames (384 ms) and no defined score.
MIN_STOI_SECONDS = 0.4
DITHER_SEED = 0
_FIXED_DITHER = threading.Lock()  # the global generator is shared by threads: one seeded pystoi call at a time


class StoiError(ValueError):
    """STOI cannot be computed for these signals (too short, or silent after alignment)."""


class SilentSignalError(ValueError):
    """A PESQ input is digital silence (the P.862 code would fail on it with an obscure NaN error)."""


def pesq_mos(ref: Audio, deg: Audio, band: str = "wb") -> float:
    """PESQ MOS-LQO of ``deg`` against ``ref`` (P.862.2 wide-band or P.862 + P.862.1 narrow-band).

    Signals already at the band's rate (16 kHz wb, 8 kHz nb) reach the P.862
    code unchanged; others are resampled with soxr.

    Args:
        ref: clean reference, any rate.
        deg: degraded signal of the same content, any rate.
        band: "wb" or "nb".

    Returns:
        MOS-LQO (wb: 1.04-4.64, nb: 1.02-4.55).

    Raises:
        ValueError: unknown band.
        SilentSignalError: ``ref`` or ``deg`` is digital silence.
        pesq.PesqError: no utterance found, buffer too short (the P.862 code's own checks).
    """
    if band not in PESQ_RATES:
        raise ValueError(f"PESQ band must be 'wb' or 'nb', got {band!r}")
    rate = PESQ_RATES[band]
    r, d = ref.resample(rate).samples, deg.resample(rate).samples
    for label, x in (("reference", r), ("degraded signal", d)):
        if not np.any(x):
            raise SilentSignalError(f"the {label} is digital silence; PESQ needs speech in both signals")
    return float(pesq_lib.pesq(rate, r, d, band, on_error=pesq_lib.PesqError.RAISE_EXCEPTION))


def stoi_score(ref: Audio, deg: Audio, extended: bool = False) -> tuple[float, Alignment]:
    """STOI (or ESTOI) of ``deg`` against ``ref`` after removing their constant delay.

    Args:
        ref: clean reference, any rate.
        deg: degraded signal of the same content, any rate.
        extended: compute ESTOI instead of STOI.

    Returns:
        (score, alignment): the score (STOI 0-1, ESTOI -1-1) and the alignment used (its delay_ms).

    Raises:
        StoiError: the degraded signal covers less than 0.4 s of the reference, or the reference is silent.
        DelayTooLargeError: the signals are offset by more than the aligner removes.
    """
    aligned = align(ref, deg, ALIGN_RATE)
    return _stoi_on_aligned(aligned, extended)[0], aligned


def score(names: list[str], inputs: MetricInputs, model: None = None) -> dict[str, MetricResult]:
    """Compute the requested intrusive metrics; the reference must be present.

    The delay is estimated once and shared by all four metrics' details; when it is beyond what the
    aligner removes, STOI and ESTOI fail with that message and PESQ (its own alignment) still runs.
    ``model`` is always None: the family interface passes it to model-based families.
    """
    assert inputs.ref is not None, "callers skip intrusive metrics without a reference"
    aligned: Alignment | None = None
    try:
        aligned, delay_error = align(inputs.ref, inputs.deg, ALIGN_RATE), None
    except DelayTooLargeError as exc:
        delay_error = exc
    shared = {"delay_ms": aligned.delay_ms if aligned else None}
    results: dict[str, MetricResult] = {}
    for name in names:
        try:
            if name.startswith("pesq"):
                value = pesq_mos(inputs.ref, inputs.deg, name.removeprefix("pesq_"))
                details = {**shared, "delay_removed": False, "alignment": "P.862 internal time alignment"}
            elif delay_error is not None:
                raise delay_error
            else:
                value, facts = _stoi_on_aligned(aligned, extended=name == "estoi")
                details = {**shared, "delay_removed": True, **facts}
        except (pesq_lib.PesqError, ValueError) as exc:  # StoiError, SilentSignalError, delay, P.862 input errors
            results[name] = failed(name, exc)
            continue
        results[name] = MetricResult(name, value, details=details)
    return results


def _stoi_on_aligned(aligned: Alignment, extended: bool) -> tuple[float, dict[str, float | bool]]:
    """(STOI or ESTOI, facts for the details: how much of each signal was compared)."""
    facts: dict[str, float | bool] = {
        "covered_seconds": round(aligned.covered_seconds, 3),
        "uncovered_seconds": round(aligned.uncovered_samples / ALIGN_RATE, 3),
        "dropped_seconds": round(aligned.dropped_samples / ALIGN_RATE, 3),
    }
    if aligned.covered_seconds < MIN_STOI_SECONDS:
        raise StoiError(f"the degraded signal covers {aligned.covered_seconds:.2f} s of the reference after "
                        f"alignment; STOI needs at least {MIN_STOI_SECONDS} s of common signal")
    ref, deg = aligned.ref.resample(STOI_RATE).samples, aligned.deg.resample(STOI_RATE).samples
    n = min(len(ref), len(deg))
    if not np.any(ref[:n]):
        raise StoiError("the reference is digital silence; STOI is undefined")
    if not np.any(deg[:n]):
        return 0.0, {**facts, "degraded_silent": True}
    with warnings.catch_warnings(record=True) as caught, _FIXED_DITHER:
        warnings.simplefilter("always")
        saved = np.random.get_state()
        np.random.seed(DITHER_SEED)
        try:
            value = pystoi_stoi(ref[:n].astype(np.float64), deg[:n].astype(np.float64), STOI_RATE, extended=extended)
        finally:
            np.random.set_state(saved)
    # pystoi returns a placeholder 1e-5 (with a warning) when too few speech frames remain.
    for w in caught:
        if "Not enough STFT frames" in str(w.message):
            raise StoiError("fewer than 30 speech frames (384 ms) remain after pystoi removes silent frames")
    return float(value), facts
