"""lab.audio: a table of bad and odd inputs through load()/from_array(), resampling, normalisation."""

from __future__ import annotations

import io
import itertools
import logging
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from signals import dominant_frequency, tone

from lab import audio
from lab.audio import Audio, AudioError

RATE = 16_000
TONE = tone(440, 3.0, RATE)  # 3 s, peak 0.5


def wav_bytes(samples: np.ndarray, rate: int = RATE, subtype: str = "FLOAT") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def riff_header(rate: int, data_bytes: int, channels: int = 1, bits: int = 16) -> bytes:
    """A PCM WAV header that declares ``data_bytes`` of samples."""
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, bits)
    riff_size = min(36 + data_bytes, 0xFFFFFFFF)
    return (b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", data_bytes))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TONE saved in every format, plus browser-style recordings made by ffmpeg."""
    folder = tmp_path_factory.mktemp("audio")
    for ext in ("wav", "flac", "ogg", "mp3", "webm", "opus", "m4a"):
        audio.save(TONE, folder / f"tone.{ext}")
    browser = {  # Chrome/Firefox MediaRecorder: live WebM without duration; Safari: fragmented MP4
        "live.webm": ["-c:a", "libopus", "-f", "webm", "-live", "1"],
        "fragmented.m4a": ["-c:a", "aac", "-movflags", "frag_keyframe+empty_moov+default_base_moof"],
        # CBR MP3 as many sites serve it: a 4 kB ID3v2 tag and no Xing/Info frame stating the length
        "tagged.mp3": ["-c:a", "libmp3lame", "-b:a", "64k", "-write_xing", "0", "-id3v2_version", "3",
                       "-metadata", f"comment={'x' * 4000}"],
    }
    for name, args in browser.items():
        command = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(folder / "tone.wav"), *args, str(folder / name)]
        subprocess.run(command, check=True)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.txt").write_text("This is a text file, not a recording.\n" * 20)
    (folder / "a_folder").mkdir()
    return folder


def cut(name: str, fraction: float) -> Callable[[Path], bytes]:
    return lambda d: (d / name).read_bytes()[: int((d / name).stat().st_size * fraction)]


def is_tone(duration_tol: float, rate: int = RATE) -> Callable[[Audio], None]:
    """A check: the loaded audio is TONE (rate, duration within ``duration_tol`` s, 440 Hz ± 1)."""
    def check(a: Audio) -> None:
        assert a.sample_rate == rate
        assert abs(a.duration - TONE.duration) <= duration_tol
        assert abs(dominant_frequency(a) - 440) < 1.0
    return check


def is_first_half_of_tone(a: Audio) -> None:
    assert a.sample_rate == 48000
    assert 1.2 < a.duration < 1.8
    assert abs(dominant_frequency(a) - 440) < 1.0


def equals(expected: np.ndarray, atol: float) -> Callable[[Audio], None]:
    def check(a: Audio) -> None:
        assert a.sample_rate == RATE and a.samples.shape == expected.shape
        np.testing.assert_allclose(a.samples, expected, atol=atol)
    return check


@dataclass(frozen=True)
class Case:
    """One input: ``make(files_dir)`` gives a path or bytes; expect ``error`` text or pass ``check``."""

    id: str
    make: Callable[[Path], Path | bytes]
    error: str | None = None
    check: Callable[[Audio], None] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


SILENCE = np.zeros(RATE, np.float32)
WITH_NAN = TONE.samples.copy()
WITH_NAN[100] = np.nan
WITH_INF = TONE.samples.copy()
WITH_INF[-1] = np.inf
STEREO = np.stack([0.8 * TONE.samples, 0.4 * TONE.samples], axis=1)
# written to a pipe (ffmpeg, sox): the sizes stay 0xFFFFFFFF because the header cannot be patched afterwards
STREAMED_WAV = riff_header(RATE, 0xFFFFFFFF) + (TONE.samples * 32767).astype("<i2").tobytes()
HOURS_DECLARED = riff_header(8000, 8000 * 2 * 3600 * 5) + bytes(16000)  # header says 5 h, 1 s present
PNG = b"\x89PNG\r\n\x1a\n" + np.random.default_rng(1).bytes(3000)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + np.random.default_rng(2).bytes(3000)

CASES = [
    Case("empty-file", lambda d: d / "empty.wav", error="empty (0 bytes)"),
    Case("header-only-wav", lambda d: wav_bytes(np.zeros(0, np.float32)), error="zero-length audio"),
    Case("silent-needs-speech", lambda d: wav_bytes(SILENCE), error="is silent", kwargs={"require_speech": True}),
    Case("silent-allowed", lambda d: wav_bytes(SILENCE), check=equals(SILENCE, 0)),
    Case("nan-samples", lambda d: wav_bytes(WITH_NAN), error="1 NaN or infinite samples"),
    Case("inf-samples", lambda d: wav_bytes(WITH_INF), error="1 NaN or infinite samples"),
    Case("text-file", lambda d: d / "notes.txt", error="'notes.txt' is not an audio file"),
    Case("png-bytes", lambda d: PNG, error="has no audio in it"),
    Case("jpeg-bytes", lambda d: JPEG, error="is not an audio file"),
    Case("random-bytes", lambda d: np.random.default_rng(0).bytes(5000), error="is not an audio file"),
    Case("truncated-wav", cut("tone.wav", 0.5), error="header promises 3.00 s but only 1.50 s"),
    Case("truncated-flac", cut("tone.flac", 0.5), error="damaged or truncated: decoding failed"),
    Case("truncated-mp3", cut("tone.mp3", 0.5), error="truncated: its header promises 3.00 s"),
    Case("truncated-webm", cut("tone.webm", 0.5), error="truncated: its header promises 3.0"),
    Case("truncated-ogg-opus", cut("tone.opus", 0.5), error="Ogg stream stops before its last page"),
    Case("truncated-ogg-vorbis", cut("tone.ogg", 0.7), error="Ogg stream stops before its last page"),
    Case("truncated-m4a", cut("tone.m4a", 0.5), error="damaged or truncated MP4/M4A"),
    Case("m4a-cut-inside-its-index", cut("tone.m4a", 0.97), error="audio stream has no codec information"),
    # a live recording declares no length: what arrived is all there is, and it loads
    Case("truncated-live-webm-keeps-what-is-there", cut("live.webm", 0.5), check=is_first_half_of_tone),
    Case("rate-4000", lambda d: wav_bytes(np.full(4000, 0.1, np.float32), 4000), error="Unsupported sample rate 4000"),
    Case("rate-400k", lambda d: riff_header(400_000, 800) + bytes(800), error="Unsupported sample rate 400000"),
    Case("wav-declares-5-hours", lambda d: HOURS_DECLARED, error="5.0 h long; the limit here is 30.0 min"),
    Case("mp3-over-max-seconds", lambda d: d / "tone.mp3", error="limit here is 2.00 s", kwargs={"max_seconds": 2}),
    Case("live-webm-over-max-seconds", lambda d: d / "live.webm", error="limit here is 2.00 s",
         kwargs={"max_seconds": 2}),
    Case("under-min-seconds", lambda d: d / "tone.flac", error="at least 5.0 s is needed", kwargs={"min_seconds": 5}),
    Case("stereo-mixed-down", lambda d: wav_bytes(STEREO), check=equals(0.6 * TONE.samples, 1e-6)),
    Case("pcm-u8", lambda d: wav_bytes(TONE.samples, subtype="PCM_U8"), check=equals(TONE.samples, 1 / 128)),
    Case("pcm-24", lambda d: wav_bytes(TONE.samples, subtype="PCM_24"), check=equals(TONE.samples, 2**-22)),
    Case("float-beyond-full-scale", lambda d: wav_bytes(4 * TONE.samples), check=equals(2 * TONE.samples, 1e-6)),
    Case("streamed-wav-unknown-size", lambda d: STREAMED_WAV, check=equals(TONE.samples, 2 / 32768)),
    Case("one-sample", lambda d: wav_bytes(np.array([0.25], np.float32)), check=equals(np.array([0.25]), 0)),
    Case("directory", lambda d: d / "a_folder", error="'a_folder' is a folder, not an audio file"),
    Case("missing-path", lambda d: d / "nowhere.wav", error="'nowhere.wav' does not exist: there is no file at '/"),
    Case("role-named", lambda d: wav_bytes(SILENCE), error="The --ref upload: The audio is silent",
         kwargs={"require_speech": True, "role": "--ref"}),
    Case("role-named-file", lambda d: d / "notes.txt", error="The source 'notes.txt' is not an audio file",
         kwargs={"role": "source"}),
    Case("over-byte-limit", lambda d: d / "tone.wav", error="the limit is 10.0 kB", kwargs={"max_bytes": 10 * 1024}),
    Case("bytes-over-byte-limit", lambda d: wav_bytes(TONE.samples), error="the limit is 10.0 kB",
         kwargs={"max_bytes": 10 * 1024}),
    Case("webm-opus", lambda d: d / "tone.webm", check=is_tone(0.01, 48000)),
    Case("browser-live-webm", lambda d: d / "live.webm", check=is_tone(0.01, 48000)),
    Case("m4a-aac", lambda d: d / "tone.m4a", check=is_tone(0.001)),
    Case("browser-fragmented-m4a", lambda d: d / "fragmented.m4a", check=is_tone(0.07)),  # AAC priming not trimmed
    Case("ogg-vorbis", lambda d: d / "tone.ogg", check=is_tone(0.001)),
    Case("mp3", lambda d: d / "tone.mp3", check=is_tone(0.001)),
    # libsndfile estimates 3.5 s from the file size (tag included): a length that is not stated is no promise;
    # without the LAME frame the encoder delay and padding (96 ms here) stay in
    Case("mp3-tagged-without-length-frame", lambda d: d / "tagged.mp3", check=is_tone(0.1)),
    Case("mp3-without-length-frame-over-max-seconds", lambda d: d / "tagged.mp3", error="limit here is 2.00 s",
         kwargs={"max_seconds": 2}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_load_table(case: Case, files: Path) -> None:
    source = case.make(files)
    if case.error:
        with pytest.raises(AudioError) as info:
            audio.load(source, **case.kwargs)
        assert case.error in str(info.value)
    else:
        loaded = audio.load(source, **case.kwargs)
        assert loaded.samples.dtype == np.float32 and loaded.samples.ndim == 1
        case.check(loaded)


def test_absurd_durations_are_rejected_from_the_header(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With decoding disabled, every format that declares its length is still rejected as too long."""
    from lab import audio_codecs

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("samples were decoded")

    monkeypatch.setattr(sf.SoundFile, "read", no_decoding)
    monkeypatch.setattr(audio_codecs, "_decode_stream", no_decoding)
    for name in ("tone.wav", "tone.flac", "tone.mp3", "tone.ogg", "tone.opus", "tone.webm", "tone.m4a"):
        with pytest.raises(AudioError) as info:
            audio.load(files / name, max_seconds=1)
        assert "limit here is 1.00 s" in str(info.value), name
    start = time.perf_counter()
    with pytest.raises(AudioError) as info:
        audio.load(HOURS_DECLARED)
    assert "5.0 h long" in str(info.value)
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize("name", ["tone.wav", "tone.flac", "tone.mp3"])
def test_a_too_long_input_is_named_in_the_error(files: Path, name: str) -> None:
    with pytest.raises(AudioError) as info:
        audio.load(files / name, max_seconds=0.5, role="source")
    assert str(info.value).startswith(f"The source {name!r}: The audio is") and "limit here is" in str(info.value)


def test_from_array_int16_channel_layouts() -> None:
    left = (TONE.samples * 32767).astype(np.int16)
    right = (-0.5 * TONE.samples * 32767).astype(np.int16)
    expected = (left.astype(np.float64) + right) / 2 / 32768
    for layout in (np.stack([left, right], axis=1), np.stack([left, right], axis=0)):  # (T, C) and (C, T)
        got = audio.from_array(layout, RATE)
        assert got.samples.shape == (len(left),)
        np.testing.assert_allclose(got.samples, expected, atol=1e-6)


@pytest.mark.parametrize(("array", "error"), [
    (np.zeros((200, 300), np.float32), "Cannot tell channels from time"),
    (np.zeros((2, 2, 100), np.float32), "got an array of shape"),
    (np.array([True, False]), "real numbers"),
    (np.zeros(0, np.int16), "empty (zero samples)"),
])
def test_from_array_rejects(array: np.ndarray, error: str) -> None:
    with pytest.raises(AudioError) as info:
        audio.from_array(array, RATE)
    assert error in str(info.value)


def test_unsigned_pcm_is_centred() -> None:
    got = audio.from_array(np.array([0, 128, 255], np.uint8), RATE).samples
    np.testing.assert_allclose(got, [-1.0, 0.0, 127 / 128])


RESAMPLE_RATES = (8000, 16000, 22050, 44100, 48000)


@pytest.mark.parametrize(("src", "dst"), list(itertools.permutations(RESAMPLE_RATES, 2)))
def test_resample_keeps_a_1khz_tone(src: int, dst: int) -> None:
    out = tone(1000, 2.0, src).resample(dst)
    assert out.sample_rate == dst
    assert abs(len(out.samples) - 2 * dst) <= 1
    assert abs(dominant_frequency(out) - 1000) < 1.0
    middle = out.samples[dst // 4 : -dst // 4]  # away from the filter's edge transients
    assert abs(np.sqrt(np.mean(middle**2)) - 0.5 / np.sqrt(2)) < 0.005


def test_frequency_estimator_resolves_fractions_of_a_hertz() -> None:
    assert abs(dominant_frequency(tone(1000.4, 2.0, 8000)) - 1000.4) < 0.05


@pytest.mark.parametrize("target", [-35.0, -27.0, -23.0])  # speech peaks at -1 dBFS near -21 LUFS
@pytest.mark.parametrize("level", [0.02, 0.3])
def test_loudness_normalize_hits_target(target: float, level: float, speech_set: list) -> None:
    speech = speech_set[0].audio
    scaled = Audio((speech.samples / np.max(np.abs(speech.samples)) * level).astype(np.float32), speech.sample_rate)
    out = audio.loudness_normalize(scaled, target)
    measured = pyloudnorm.Meter(out.sample_rate).integrated_loudness(out.samples.astype(np.float64))
    assert abs(measured - target) < 0.5
    assert np.max(np.abs(out.samples)) <= 10 ** (-1 / 20) + 1e-6


def test_loudness_normalize_caps_the_peak_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    clicks = np.zeros(RATE * 2, np.float32)
    clicks[::4000] = 0.5  # very peaky: reaching -10 LUFS would need a peak far above 0 dBFS
    with caplog.at_level(logging.WARNING, logger="lab.audio"):
        out = audio.loudness_normalize(Audio(clicks, RATE), -10.0)
    assert np.max(np.abs(out.samples)) == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    assert "peak is capped" in caplog.text


@pytest.mark.parametrize(("clip", "error"), [
    (Audio(np.zeros(RATE, np.float32), RATE), "silent"),
    (tone(440, 0.2, RATE), "too short to measure loudness"),
])
def test_loudness_normalize_rejects(clip: Audio, error: str) -> None:
    with pytest.raises(AudioError, match=error):
        audio.loudness_normalize(clip)


def test_peak_normalize() -> None:
    out = audio.peak_normalize(tone(440, 1.0, RATE, amplitude=0.1), -3.0)
    assert np.max(np.abs(out.samples)) == pytest.approx(10 ** (-3 / 20), rel=1e-5)
    silent = Audio(np.zeros(100, np.float32), RATE)
    assert audio.peak_normalize(silent) is silent
    assert audio.rms_dbfs(tone(440, 1.0, RATE, amplitude=1.0)) == pytest.approx(-3.01, abs=0.01)


@pytest.mark.parametrize("name", ["tone.wav", "tone.flac", "tone.mp3", "tone.ogg", "tone.opus", "tone.webm",
                                  "tone.m4a", "live.webm", "fragmented.m4a"])
def test_damaged_files_never_raise_anything_but_audio_error(name: str, files: Path) -> None:
    """Cut at 25 points and 15 random 5-byte corruptions per format: load() or AudioError, nothing else."""
    rng = np.random.default_rng(7)
    data = (files / name).read_bytes()
    variants = [data[: int(len(data) * f)] for f in np.linspace(0.01, 0.995, 25)]
    for _ in range(15):
        corrupt = bytearray(data)
        for position in rng.integers(0, len(data), 5):
            corrupt[position] = int(rng.integers(0, 256))
        variants.append(bytes(corrupt))
    for variant in variants:
        try:
            loaded = audio.load(variant)
        except AudioError:
            continue
        assert np.all(np.isfinite(loaded.samples)) and np.max(np.abs(loaded.samples)) <= 1.0


def test_output_paths_are_checked_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "taken.wav").mkdir()
    for path, message in [(tmp_path / "taken.wav", "it is a folder"), (tmp_path / "no" / "x.wav", "does not exist"),
                          (Path("/proc/x.wav"), "Cannot write '/proc/x.wav'"), (tmp_path / "x.aiff", "Cannot save as")]:
        with pytest.raises(AudioError, match=message):
            audio.check_output(path)
    assert audio.check_output(tmp_path / "fine.flac") == tmp_path / "fine.flac"
    assert not list(tmp_path.glob(".write-test-*")), "the write probe leaves nothing behind"
