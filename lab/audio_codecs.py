"""File formats behind lab.audio: decode with libsndfile first and PyAV (FFmpeg) for the rest; encode.

Kept apart from :mod:`lab.audio` so the Audio type stays small. Everything a
header can tell (rate, declared duration, truncation) is checked before the
samples are decoded, so an absurd or broken upload is rejected cheaply. Every
failure is an :class:`~lab.audio.AudioError` whose message names the problem.
"""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from lab.audio import ACCEPTED, Audio, AudioError, check_duration, check_rate, format_seconds

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer

SOUNDFILE_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}
AV_FORMATS = {"webm": ("webm", "libopus"), "opus": ("opus", "libopus"), "m4a": ("ipod", "aac")}
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
OPUS_RATE = 48_000
COMPLETE = 0.99  # decoded/declared length below this (minus one frame of slack) means truncated
MP3_LENGTH_TAGS = (b"Xing", b"Info", b"VBRI")  # frame-0 headers that state an MP3's exact length


def decode(data: bytes, label: str, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode a whole file.

    Args:
        data: the file's bytes (non-empty).
        label: how to name the file in messages, e.g. "'talk.webm'" or "The upload".
        max_seconds: longest accepted duration; checked from the header first.

    Returns:
        (samples, rate): samples of shape (T,) or (T, C) in the file's own dtype
        family (float32, or integers for PyAV's integer formats), rate in Hz.

    Raises:
        AudioError: not audio, damaged, truncated, unsupported rate or too long.
    """
    _check_wav_header(data, label, max_seconds)
    if data[:4] == b"OggS":
        _check_ogg_complete(data, label)
    try:
        sound = sf.SoundFile(io.BytesIO(data))
    except sf.LibsndfileError:
        return _decode_av(data, label, max_seconds)
    with sound:
        exact_length = sound.format != "MP3" or _mp3_states_length(data)
        return _decode_soundfile(sound, label, max_seconds, exact_length)


def check_suffix(path: Path) -> str:
    """The format ``path``'s suffix names (lower case, no dot).

    Raises:
        AudioError: no suffix, or one no encoder here writes.
    """
    suffix = path.suffix.lower().lstrip(".")
    accepted = ", ".join(f".{s}" for s in (*SOUNDFILE_FORMATS, *AV_FORMATS))
    if not suffix:
        raise AudioError(f"{path.name!r} has no suffix to name its format: use one of {accepted}.")
    if suffix not in SOUNDFILE_FORMATS and suffix not in AV_FORMATS:
        raise AudioError(f"Cannot save as .{suffix}: use one of {accepted}.")
    return suffix


def encode(audio: Audio, path: Path) -> None:
    """Write ``audio`` to ``path`` in the format its suffix names (see SOUNDFILE_FORMATS, AV_FORMATS)."""
    suffix = check_suffix(path)
    if suffix == "mp3":
        audio = audio.resample(_nearest_rate(audio.sample_rate, MP3_RATES))
    if suffix in SOUNDFILE_FORMATS:
        subtype = "FLOAT" if suffix == "wav" else None
        with sf.SoundFile(path, "w", audio.sample_rate, 1, subtype, format=SOUNDFILE_FORMATS[suffix]) as out:
            # one second per call: libsndfile 1.2.2 crashes writing a minute of Vorbis in one call
            for start in range(0, len(audio.samples), audio.sample_rate):
                out.write(audio.samples[start : start + audio.sample_rate])
    else:
        _encode_av(audio, path, *AV_FORMATS[suffix])


def truncated(label: str, declared_s: float, present_s: float) -> AudioError:
    """The error for a file that holds less audio than its header promises."""
    return AudioError(f"{label} is truncated: its header promises {format_seconds(declared_s)} "
                      f"but only {format_seconds(present_s)} of audio is present. Upload the complete file.")


def damaged(label: str, exc: Exception) -> AudioError:
    """The error for a recognised audio file whose data cannot be decoded."""
    return AudioError(f"{label} is damaged or truncated: decoding failed ({exc}). Upload the complete file.")


def _check_wav_header(data: bytes, label: str, max_seconds: float) -> None:
    """Check a RIFF/WAVE header's rate, declared length and truncation (libsndfile hides truncation)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    pos, rate, block_align = 12, 0, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt " and size >= 16 and body + 16 <= len(data):
            rate = struct.unpack_from("<I", data, body + 4)[0]
            block_align = struct.unpack_from("<H", data, body + 12)[0]
        elif chunk == b"data":
            # size 0 or 0xFFFFFFFF: written by a streaming recorder that never patched the header.
            if not rate or not block_align or size in (0, 0xFFFFFFFF):
                return
            check_rate(rate)
            declared = size / block_align / rate
            check_duration(declared, max_seconds=max_seconds)
            present = len(data) - body
            if present < size - block_align:
                raise truncated(label, declared, present / block_align / rate)
            return
        pos = body + size + (size & 1)


def _check_ogg_complete(data: bytes, label: str) -> None:
    """An Ogg stream ends with a complete page flagged end-of-stream; a cut-off upload does not."""
    last = data.rfind(b"OggS")
    complete = False
    if last >= 0 and last + 27 <= len(data):
        n_segments = data[last + 26]
        table = data[last + 27 : last + 27 + n_segments]
        end = last + 27 + n_segments + sum(table)
        complete = len(table) == n_segments and end <= len(data) and bool(data[last + 5] & 0x04)
    if not complete:
        raise AudioError(f"{label} is truncated: the Ogg stream stops before its last page. Upload the complete file.")


def _decode_soundfile(sound: sf.SoundFile, label: str, max_seconds: float,
                      exact_length: bool) -> tuple[np.ndarray, int]:
    """Decode with libsndfile; ``exact_length`` False: its frame count is an estimate, not a promise."""
    rate = sound.samplerate
    declared = sound.frames if exact_length else 0
    check_rate(rate)
    if declared > 0:
        check_duration(declared / rate, max_seconds=max_seconds)
    try:
        if sound.seekable():
            sound.seek(0)  # libsndfile 1.2.2 skips the Opus pre-skip only after a seek: audio would start late
        samples = sound.read(frames=-1 if declared > 0 else int(max_seconds * rate) + 1, dtype="float32",
                             always_2d=True)
    except sf.LibsndfileError as exc:
        raise damaged(label, exc) from exc
    if len(samples) == 0:
        raise AudioError(f"{label} holds zero-length audio (a header with no samples). Record some speech.")
    if declared > 0 and len(samples) < declared * COMPLETE:
        raise truncated(label, declared / rate, len(samples) / rate)
    check_duration(len(samples) / rate, max_seconds=max_seconds)
    return samples, rate


def _mp3_states_length(data: bytes) -> bool:
    """Whether an MP3's first frame carries a Xing/Info/VBRI length header.

    Without one, libsndfile estimates the length from the file size and bit rate, and counts an ID3v2 tag
    (titles, cover art) as audio: a complete 7.9 s file with a 4 kB tag "promises" 8.4 s. Such a length can
    neither prove truncation nor bound the duration before decoding.
    """
    start = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = int.from_bytes(bytes(b & 0x7F for b in data[6:10]), "big")  # syncsafe integer
        start = 10 + size + (10 if data[5] & 0x10 else 0)  # flag 0x10: a footer follows the tag
    first_frame = data[start : start + 200]
    return any(tag in first_frame for tag in MP3_LENGTH_TAGS)


def _decode_av(data: bytes, label: str, max_seconds: float) -> tuple[np.ndarray, int]:
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        if data[4:8] == b"ftyp":
            raise AudioError(f"{label} is a damaged or truncated MP4/M4A file (its index cannot be read). "
                             "Upload the complete file.") from exc
        raise AudioError(f"{label} is not an audio file (or a damaged one). Accepted formats: {ACCEPTED}.") from exc
    with container:
        if not container.streams.audio:
            raise AudioError(f"{label} has no audio in it. Accepted formats: {ACCEPTED}.")
        stream = container.streams.audio[0]
        if stream.codec_context is None or not stream.codec_context.sample_rate:
            raise AudioError(f"{label} is damaged or truncated: its audio stream has no codec information.")
        rate = stream.codec_context.sample_rate
        check_rate(rate)
        declared = _declared_seconds(stream, container)
        if declared:
            check_duration(declared, max_seconds=max_seconds)
        try:
            samples = _decode_stream(container, stream, rate, max_seconds)
        except AudioError:
            raise
        except (av.error.FFmpegError, ValueError) as exc:
            raise damaged(label, exc) from exc
    if len(samples) == 0:
        raise AudioError(f"{label} decodes to zero-length audio; it is empty or truncated.")
    present = len(samples) / rate
    if declared and present < declared * COMPLETE - 0.05:
        raise truncated(label, declared, present)
    if stream.duration and stream.time_base:
        # Encoders pad the last frame (AAC: up to 1024 samples); the container's duration is the real end.
        samples = samples[: max(1, round(float(stream.duration * stream.time_base) * rate))]
    return samples, rate


def _declared_seconds(stream: AudioStream, container: InputContainer) -> float | None:
    import av

    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _decode_stream(container: InputContainer, stream: AudioStream, rate: int, max_seconds: float) -> np.ndarray:
    """All frames of ``stream`` as (T, C), stopping as soon as ``max_seconds`` is exceeded."""
    blocks, total = [], 0
    for frame in container.decode(stream):
        block = frame.to_ndarray()
        channels = len(frame.layout.channels)
        block = block.reshape(-1, channels) if frame.format.is_packed else block.T
        blocks.append(block)
        total += len(block)
        if total / rate > max_seconds:
            check_duration(total / rate, max_seconds=max_seconds)
    return np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)


def _nearest_rate(rate: int, supported: tuple[int, ...]) -> int:
    """The lowest supported rate at or above ``rate`` (the highest if none is)."""
    return next((r for r in supported if r >= rate), supported[-1])


def _encode_av(audio: Audio, path: Path, container_format: str, codec: str) -> None:
    import av

    rate = OPUS_RATE if codec == "libopus" else _nearest_rate(audio.sample_rate, AAC_RATES)
    pcm = (np.clip(audio.resample(rate).samples, -1, 1) * 32767).astype(np.int16)
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        for start in range(0, len(pcm), rate):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + rate], format="s16", layout="mono")
            # A timestamp lets the encoder's priming delay be recorded (MP4 edit list), so playback starts on time.
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
