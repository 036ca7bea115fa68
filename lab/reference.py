"""A reference recording of a voice: cleaned the same way everywhere, and checked before it is trusted.

Cloning quality depends mostly on the reference. Every reference, enrolled in
the voice library or given as a file to the CLI, goes through :func:`prepare`:
mono 16 kHz, silence and pauses removed with Silero VAD, loudness normalised;
then it is judged by its *speech* time, clipping and DNSMOS quality. Hard
problems (silent, < 1 s of speech, > 5 min) are rejected with a clear message;
soft ones (speech < 3 s or > 30 s, clipping, low quality) become warnings.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab import audio as audio_io
from lab import vad
from lab.audio import Audio, AudioError

log = logging.getLogger(__name__)

RATE = 16000
TARGET_LUFS = -23.0
MAX_UPLOAD_SECONDS = 5 * 60.0
MIN_SPEECH_S = 1.0
SHORT_SPEECH_S = 3.0
LONG_SPEECH_S = 30.0
CLIP_LEVEL = 0.999
CLIP_FRACTION = 0.001  # 0.1 % of samples at full scale is audible clipping
LOW_DNSMOS = 2.5


@dataclass
class Reference:
    """A cleaned reference and what was found while checking it.

    Attributes:
        audio: speech only, mono, 16 kHz, loudness-normalised to TARGET_LUFS.
        raw_seconds: length of the recording as given, seconds.
        speech_seconds: speech found by the VAD, seconds.
        clipped_fraction: share of raw samples at full scale (0..1).
        dnsmos: DNSMOS overall quality of the cleaned speech (None when not measured).
        warnings: problems worth telling the user about (the reference is still usable).
    """

    audio: Audio
    raw_seconds: float
    speech_seconds: float
    clipped_fraction: float
    dnsmos: float | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready facts (without the audio)."""
        return {"raw_seconds": self.raw_seconds, "speech_seconds": self.speech_seconds,
                "clipped_fraction": self.clipped_fraction, "dnsmos": self.dnsmos, "warnings": self.warnings}


def load(source: str | Path | bytes, role: str | None = None) -> Audio:
    """Decode an uploaded or recorded reference (at most 5 minutes, not silent).

    ``role`` names the input in error messages (see lab.audio.load).

    Raises:
        AudioError: not audio, unreadable, empty, silent or longer than 5 minutes.
    """
    return audio_io.load(source, require_speech=True, max_seconds=MAX_UPLOAD_SECONDS, role=role)


def prepare(raw: Audio, measure_quality: bool = True) -> Reference:
    """Clean ``raw`` (any rate) and check it.

    Args:
        raw: the reference as recorded or uploaded.
        measure_quality: also score DNSMOS (needs the eval package; a failure is a warning, not an error).

    Raises:
        AudioError: silent, less than MIN_SPEECH_S of speech, or longer than 5 minutes.
    """
    audio_io.check_duration(raw.duration, max_seconds=MAX_UPLOAD_SECONDS)
    if float(np.max(np.abs(raw.samples))) < audio_io.SILENCE_PEAK:
        raise AudioError("The reference is silent: record or upload a few seconds of someone speaking.")
    clipped = float(np.mean(np.abs(raw.samples) >= CLIP_LEVEL))
    mono16k = raw.resample(RATE)
    segments = vad.speech_segments(mono16k)
    speech_s = vad.speech_seconds(segments)
    if speech_s < MIN_SPEECH_S:
        raise AudioError(f"The reference holds only {speech_s:.1f} s of speech (of {raw.duration:.1f} s); "
                         f"at least {MIN_SPEECH_S:.0f} s is needed, 3 to 30 s works best.")
    cleaned = audio_io.loudness_normalize(vad.trim(mono16k, segments), TARGET_LUFS)
    ref = Reference(cleaned, raw.duration, speech_s, clipped)
    if speech_s < SHORT_SPEECH_S:
        ref.warnings.append(f"Only {speech_s:.1f} s of speech: cloning works best with 3 to 30 s.")
    if speech_s > LONG_SPEECH_S:
        ref.warnings.append(f"{speech_s:.0f} s of speech: more than 30 s rarely helps and makes cloning slower.")
    if clipped > CLIP_FRACTION:
        ref.warnings.append(f"The recording is clipped ({clipped:.1%} of samples at full scale): "
                            "record again a little quieter.")
    if measure_quality:
        ref.dnsmos = _dnsmos(cleaned, ref.warnings)
    return ref


def _dnsmos(cleaned: Audio, warnings: list[str]) -> float | None:
    """DNSMOS overall of ``cleaned``; problems become warnings (quality is advice, not a gate)."""
    from lab import selfcheck

    try:
        from eval.metrics.core import MetricInputs

        result = selfcheck.scorer().score(MetricInputs(deg=cleaned), metrics=["dnsmos_ovrl"])["dnsmos_ovrl"]
    except ImportError as exc:
        warnings.append(f"Quality not measured: the eval package is incomplete ({exc}).")
        return None
    if not math.isfinite(result.value):
        warnings.append(f"Quality not measured: {result.error or result.skipped}.")
        return None
    if result.value < LOW_DNSMOS:
        warnings.append(f"Low recording quality (DNSMOS {result.value:.2f} < {LOW_DNSMOS}): "
                        "noise or echo will be cloned too; record in a quieter room if you can.")
    return float(result.value)
