"""The one audio type of Voice Lab and every way audio enters or leaves it.

All engines and metrics take and return :class:`Audio` (float32 mono samples
with an explicit sample rate), so a rate mismatch can never pass silently.
Every problem with user audio raises :class:`AudioError` whose message says
what is wrong and what is accepted.
"""

from __future__ import annotations

import io
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

log = logging.getLogger(__name__)

MIN_RATE = 8_000
MAX_RATE = 192_000
MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_SECONDS = 30 * 60.0
SILENCE_PEAK = 1e-4  # -80 dBFS: nothing a microphone hears as speech
MAX_CHANNELS = 8
ACCEPTED = "WAV, FLAC, OGG/Vorbis, Opus, MP3, WebM/Opus and M4A/AAC"


class AudioError(ValueError):
    """User audio that cannot be used; the message says why and what is accepted."""


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` Hz.

    Args:
        samples: shape (T,), float32.
        sample_rate: samples per second.
    """

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 1 or self.samples.dtype != np.float32:
            raise TypeError("Audio.samples must be a float32 array of shape (T,)")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    def resample(self, rate: int) -> Audio:
        """Return this audio at ``rate`` Hz (soxr, high quality); same object if equal."""
        if rate == self.sample_rate:
            return self
        out = soxr.resample(self.samples, self.sample_rate, rate, quality="HQ")
        return Audio(np.ascontiguousarray(out, dtype=np.float32), int(rate))

    def slice(self, start_s: float, end_s: float) -> Audio:
        """Return the part between ``start_s`` and ``end_s`` seconds."""
        a, b = int(start_s * self.sample_rate), int(end_s * self.sample_rate)
        return Audio(self.samples[max(a, 0) : max(b, 0)].copy(), self.sample_rate)


def from_array(
    samples: np.ndarray,
    sample_rate: int,
    *,
    require_speech: bool = False,
    max_seconds: float = MAX_SECONDS,
    min_seconds: float = 0.0,
) -> Audio:
    """Validate any array and return mono float32 Audio.

    Args:
        samples: shape (T,), (T, C) or (C, T) with at most MAX_CHANNELS channels (the
            shorter axis is taken as channels); float in [-1, 1] or any integer PCM
            type (unsigned PCM is centred). Float audio beyond full scale is scaled
            down to a peak of 1.0 (logged).
        sample_rate: Hz, MIN_RATE..MAX_RATE.
        require_speech: reject digital silence (peak below -80 dBFS).
        max_seconds / min_seconds: accepted duration range.

    Returns:
        Audio with channels averaged.

    Raises:
        AudioError: empty, NaN/Inf, unsupported rate or shape, too long/short, or
            silent when ``require_speech``.
    """
    x = np.asarray(samples)
    if x.size == 0:
        raise AudioError("The audio is empty (zero samples). Record or upload some speech.")
    check_rate(sample_rate)
    x = _to_float(x)
    if x.ndim == 2:
        channel_axis = int(np.argmin(x.shape))
        if x.shape[channel_axis] > MAX_CHANNELS:
            raise AudioError(f"Cannot tell channels from time in an array of shape {x.shape}: "
                             f"pass (samples, channels) with at most {MAX_CHANNELS} channels.")
        x = x.mean(axis=channel_axis)
    if x.ndim != 1:
        raise AudioError(f"Audio must be mono (T,) or multichannel (T, C), got an array of shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise AudioError(f"The audio contains {bad} NaN or infinite samples; it is corrupt.")
    audio = Audio(np.ascontiguousarray(x, dtype=np.float32), int(sample_rate))
    check_duration(audio.duration, max_seconds=max_seconds, min_seconds=min_seconds)
    peak = float(np.max(np.abs(audio.samples)))
    if peak > 1.0:
        audio = Audio((audio.samples / peak).astype(np.float32), audio.sample_rate)
        log.warning("float audio exceeded full scale (peak %.2f); scaled to 1.0", peak)
    if require_speech and peak < SILENCE_PEAK:
        raise AudioError(
            f"The audio is silent (peak level {_dbfs(peak):.0f} dBFS); speech is needed here."
        )
    return audio


def check_rate(sample_rate: float) -> None:
    """Raise AudioError unless ``sample_rate`` is a whole number of Hz in MIN_RATE..MAX_RATE."""
    if not (MIN_RATE <= sample_rate <= MAX_RATE) or sample_rate != int(sample_rate):
        raise AudioError(
            f"Unsupported sample rate {sample_rate:g} Hz: accepted rates are {MIN_RATE}-{MAX_RATE} Hz."
        )


def check_duration(seconds: float, *, max_seconds: float = MAX_SECONDS, min_seconds: float = 0.0) -> None:
    """Raise AudioError when ``seconds`` is zero or outside [min_seconds, max_seconds]."""
    if seconds <= 0:
        raise AudioError("The audio has zero length. Record or upload some speech.")
    if seconds > max_seconds:
        raise AudioError(
            f"The audio is {format_seconds(seconds)} long; the limit here is {format_seconds(max_seconds)}. "
            "Trim it first."
        )
    if seconds < min_seconds:
        raise AudioError(
            f"The audio is only {seconds:.2f} s long; at least {min_seconds:.1f} s is needed here."
        )


def format_seconds(seconds: float) -> str:
    """A duration for messages: '2.50 s', '12.0 min', '5.0 h'."""
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2f} s"


def load(
    source: str | Path | bytes,
    *,
    require_speech: bool = False,
    max_seconds: float = MAX_SECONDS,
    min_seconds: float = 0.0,
    max_bytes: int = MAX_FILE_BYTES,
    role: str | None = None,
) -> Audio:
    """Decode a file (path or bytes) to mono float32 Audio at its own rate.

    WAV/FLAC/OGG/MP3 are read with soundfile; WebM/Opus, M4A and other
    container formats with PyAV (see :mod:`lab.audio_codecs`). Size, rate and
    declared duration are checked before the samples are decoded.

    Args:
        source: a file path or the bytes of an upload.
        require_speech / max_seconds / min_seconds: as in :func:`from_array`.
        max_bytes: largest accepted file size.
        role: which input of a command this is ("source", "--ref"): every message then names it, so a
            user with several inputs knows which one to fix.

    Raises:
        AudioError: missing, empty, oversized, non-audio, truncated or corrupt
            files, and everything :func:`from_array` rejects; the message names the file.
    """
    from lab import audio_codecs

    if isinstance(source, bytes):
        label = f"The {role} upload" if role else "The upload"
    else:
        label = f"The {role} {Path(source).name!r}" if role else repr(Path(source).name)
    data = _read_bytes(source, max_bytes, label)
    try:
        samples, rate = audio_codecs.decode(data, label, max_seconds)
        return from_array(
            samples, rate, require_speech=require_speech, max_seconds=max_seconds, min_seconds=min_seconds
        )
    except AudioError as exc:
        if str(exc).startswith(label):  # the decoder named the input already
            raise
        raise AudioError(f"{label}: {exc}") from exc


def save(audio: Audio, path: str | Path) -> Path:
    """Write ``audio`` to ``path``; the format follows the suffix.

    .wav (32-bit float, lossless), .flac (16-bit), .ogg (Vorbis), .mp3 with
    soundfile; .webm and .opus (Opus, 48 kHz) and .m4a (AAC) with PyAV. Lossy
    formats are resampled to the nearest rate their codec supports.

    Raises:
        AudioError: an unsupported suffix, a missing folder, or a write the system refuses.
    """
    from lab import audio_codecs

    path = check_output(path)
    try:
        audio_codecs.encode(audio, path)
    except (OSError, sf.LibsndfileError) as exc:
        raise AudioError(f"Cannot write {str(path)!r}: {exc}") from exc
    return path


def check_output(path: str | Path) -> Path:
    """``path`` as a Path, once its format is known and a file can be created there (check before long work).

    Raises:
        AudioError: no or unsupported suffix, a missing or read-only folder, or a folder at ``path``.
    """
    from lab import audio_codecs

    path = Path(path)
    audio_codecs.check_suffix(path)
    if not path.parent.is_dir():
        raise AudioError(f"Cannot write {str(path)!r}: the folder {str(path.parent)!r} does not exist.")
    if path.is_dir():
        raise AudioError(f"Cannot write {str(path)!r}: it is a folder.")
    try:  # the one sure test of "can a file be created here" (permissions, read-only mounts, /proc)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise AudioError(f"Cannot write {str(path)!r}: {exc.strerror or exc}.") from None
    return path


def to_wav_bytes(audio: Audio, subtype: str = "PCM_16") -> bytes:
    """Return ``audio`` as an in-memory WAV file (for HTML embedding and HTTP)."""
    buf = io.BytesIO()
    sf.write(buf, audio.samples, audio.sample_rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def peak_normalize(audio: Audio, peak_dbfs: float = -1.0) -> Audio:
    """Scale so the absolute peak sits at ``peak_dbfs``; silent audio is returned unchanged."""
    peak = float(np.max(np.abs(audio.samples))) if len(audio.samples) else 0.0
    if peak < SILENCE_PEAK:
        return audio
    gain = 10 ** (peak_dbfs / 20) / peak
    return Audio((audio.samples * gain).astype(np.float32), audio.sample_rate)


def loudness_normalize(audio: Audio, target_lufs: float = -23.0, max_peak_dbfs: float = -1.0) -> Audio:
    """Match integrated loudness (ITU-R BS.1770, pyloudnorm) to ``target_lufs``.

    The gain is capped so the peak stays below ``max_peak_dbfs`` (no clipping).
    Audio too short or quiet to measure (< 0.4 s, or silent) raises AudioError.
    """
    import pyloudnorm

    if audio.duration < 0.4:
        raise AudioError(f"Audio of {audio.duration:.2f} s is too short to measure loudness (0.4 s minimum).")
    loudness = pyloudnorm.Meter(audio.sample_rate).integrated_loudness(audio.samples.astype(np.float64))
    if not math.isfinite(loudness):
        raise AudioError("The audio is silent: its loudness cannot be measured.")
    gain = 10 ** ((target_lufs - loudness) / 20)
    peak = float(np.max(np.abs(audio.samples))) * gain
    cap = 10 ** (max_peak_dbfs / 20)
    if peak > cap:
        gain *= cap / peak
        log.warning("loudness %.1f LUFS instead of %.1f: the peak is capped at %.1f dBFS",
                    loudness + _dbfs(gain), target_lufs, max_peak_dbfs)
    return Audio((audio.samples * gain).astype(np.float32), audio.sample_rate)


def rms_dbfs(audio: Audio) -> float:
    """Root-mean-square level in dBFS (-inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(audio.samples, dtype=np.float64)))) if len(audio.samples) else 0.0
    return _dbfs(rms)


def _dbfs(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else -math.inf


def _to_float(x: np.ndarray) -> np.ndarray:
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        half = (int(info.max) + 1) / 2
        # signed PCM: full scale is -min (32768 for int16); unsigned PCM is centred on half its range
        scale, offset = (-float(info.min), 0.0) if info.min < 0 else (half, half)
        return ((x.astype(np.float64) - offset) / scale).astype(np.float32)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    raise AudioError(f"Audio samples must be real numbers (int or float), got dtype {x.dtype}.")


def _read_bytes(source: str | Path | bytes, max_bytes: int, label: str) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        if path.is_dir():
            raise AudioError(f"{label} is a folder, not an audio file.")
        if not path.is_file():
            raise AudioError(f"{label} does not exist: there is no file at {str(path)!r}.")
        size = path.stat().st_size
        if size > max_bytes:  # checked before reading: a huge file is never loaded into memory
            raise AudioError(f"{label} is {_format_bytes(size)}; the limit is {_format_bytes(max_bytes)}.")
        data = path.read_bytes()
    if len(data) == 0:
        raise AudioError(f"{label} is empty (0 bytes). Accepted formats: {ACCEPTED}.")
    if len(data) > max_bytes:
        raise AudioError(f"{label} is {_format_bytes(len(data))}; the limit is {_format_bytes(max_bytes)}.")
    return data


def _format_bytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 1024:.1f} kB"
