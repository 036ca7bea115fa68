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
SAVE_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}
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
    """Validate any array (int or float, mono or (T, C) / (C, T)) and return Audio.

    Integer samples are scaled to [-1, 1]; channels are averaged.

    Raises:
        AudioError: empty, NaN/Inf, unsupported rate, too long/short, or silent
            when ``require_speech``.
    """
    x = np.asarray(samples)
    if x.size == 0:
        raise AudioError("The audio is empty (zero samples). Record or upload some speech.")
    if not (MIN_RATE <= int(sample_rate) <= MAX_RATE):
        raise AudioError(
            f"Unsupported sample rate {sample_rate} Hz: accepted rates are {MIN_RATE}-{MAX_RATE} Hz."
        )
    x = _to_float(x)
    if x.ndim == 2:
        channel_axis = 0 if x.shape[0] < x.shape[1] and x.shape[0] <= 8 else 1
        x = x.mean(axis=channel_axis)
    if x.ndim != 1:
        raise AudioError(f"Audio must be mono or multichannel 2-D, got an array of shape {x.shape}.")
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


def check_duration(seconds: float, *, max_seconds: float = MAX_SECONDS, min_seconds: float = 0.0) -> None:
    """Raise AudioError when ``seconds`` is outside [min_seconds, max_seconds]."""
    if seconds <= 0:
        raise AudioError("The audio has zero length. Record or upload some speech.")
    if seconds > max_seconds:
        raise AudioError(
            f"The audio is {seconds:.1f} s long; the limit here is {max_seconds:.0f} s. Trim it first."
        )
    if seconds < min_seconds:
        raise AudioError(
            f"The audio is only {seconds:.2f} s long; at least {min_seconds:.1f} s is needed here."
        )


def load(
    source: str | Path | bytes,
    *,
    require_speech: bool = False,
    max_seconds: float = MAX_SECONDS,
    min_seconds: float = 0.0,
    max_bytes: int = MAX_FILE_BYTES,
) -> Audio:
    """Decode a file (path or bytes) to mono float32 Audio at its own rate.

    WAV/FLAC/OGG/MP3 are read with soundfile; WebM/Opus, M4A and other
    container formats with PyAV. The duration limit is checked from the header
    before the samples are decoded.

    Raises:
        AudioError: missing, empty, oversized, non-audio, truncated or corrupt
            files, and everything :func:`from_array` rejects.
    """
    data = _read_bytes(source, max_bytes)
    name = str(source) if not isinstance(source, bytes) else "upload"
    try:
        samples, rate = _decode_soundfile(data, max_seconds)
    except sf.LibsndfileError:
        samples, rate = _decode_av(data, name, max_seconds)
    return from_array(
        samples, rate, require_speech=require_speech, max_seconds=max_seconds, min_seconds=min_seconds
    )


def save(audio: Audio, path: str | Path) -> Path:
    """Write ``audio`` to ``path``; the format follows the suffix (wav, flac, ogg, mp3).

    WebM/Opus and M4A are written with PyAV.
    """
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix in SAVE_FORMATS:
        subtype = "FLOAT" if suffix == "wav" else None
        sf.write(path, audio.samples, audio.sample_rate, format=SAVE_FORMATS[suffix], subtype=subtype)
    elif suffix in ("webm", "m4a", "opus"):
        _encode_av(audio, path, suffix)
    else:
        raise AudioError(f"Cannot save as .{suffix}: use .wav, .flac, .ogg, .mp3, .webm, .opus or .m4a.")
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
        scale = max(abs(info.min), info.max)
        offset = 0 if info.min < 0 else (info.max + 1) / 2  # unsigned PCM is centred
        return ((x.astype(np.float64) - offset) / scale).astype(np.float32)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    if x.dtype == np.bool_:
        raise AudioError("Boolean arrays are not audio.")
    raise AudioError(f"Audio samples must be numbers, got dtype {x.dtype}.")


def _read_bytes(source: str | Path | bytes, max_bytes: int) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        if not path.is_file():
            raise AudioError(f"No audio file at {path.name!r}: it does not exist or is not a file.")
        size = path.stat().st_size
        if size > max_bytes:
            raise AudioError(
                f"The file is {size / 2**20:.0f} MB; the upload limit is {max_bytes / 2**20:.0f} MB."
            )
        data = path.read_bytes()
    if len(data) == 0:
        raise AudioError("The file is empty (0 bytes). Accepted formats: " + ACCEPTED + ".")
    if len(data) > max_bytes:
        raise AudioError(f"The upload is {len(data) / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    return data


def _decode_soundfile(data: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    with sf.SoundFile(io.BytesIO(data)) as f:
        if f.frames > 0:
            check_duration(f.frames / f.samplerate, max_seconds=max_seconds)
        rate, declared = f.samplerate, f.frames
        samples = f.read(dtype="float32", always_2d=True)
    if len(samples) == 0:
        raise AudioError("The file holds zero-length audio (a header with no samples).")
    if declared > 0 and len(samples) < declared * 0.99:
        raise AudioError(
            f"The file is truncated: its header promises {declared / rate:.2f} s "
            f"but only {len(samples) / rate:.2f} s of samples are present."
        )
    return samples, rate


def _decode_av(data: bytes, name: str, max_seconds: float) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioError(f"{Path(name).name!r} has no audio stream. Accepted formats: {ACCEPTED}.")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or stream.rate
            if stream.duration and stream.time_base:
                check_duration(float(stream.duration * stream.time_base), max_seconds=max_seconds)
            frames, total = [], 0
            for frame in container.decode(stream):
                block = frame.to_ndarray()
                block = block.reshape(-1, len(frame.layout.channels)) if frame.format.is_packed else block.T
                frames.append(_to_float(block).mean(axis=1))
                total += block.shape[0]
                if total / rate > max_seconds:
                    check_duration(total / rate, max_seconds=max_seconds)
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise AudioError(
            f"{Path(name).name!r} is not a readable audio file ({type(exc).__name__}). Accepted formats: {ACCEPTED}."
        ) from exc
    if not frames or total == 0:
        raise AudioError(f"{Path(name).name!r} decodes to zero-length audio; it may be truncated or empty.")
    return np.concatenate(frames).astype(np.float32), int(rate)


def _encode_av(audio: Audio, path: Path, suffix: str) -> None:
    import av

    codec, rate = ("aac", audio.sample_rate) if suffix == "m4a" else ("libopus", 48_000)
    resampled = audio.resample(rate)
    pcm = (np.clip(resampled.samples, -1, 1) * 32767).astype(np.int16)
    with av.open(str(path), mode="w", format="ipod" if suffix == "m4a" else suffix) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
