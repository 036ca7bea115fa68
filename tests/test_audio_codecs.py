"""lab.audio_codecs through save() -> load(): every format keeps duration, pitch and timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from signals import dominant_frequency, tone

from lab import audio
from lab.audio import Audio, AudioError

LOSSLESS = {"wav": 0.0, "flac": 1 / 32768}  # max abs sample error (float WAV is exact; FLAC is 16-bit)
LOSSY = ("ogg", "mp3", "webm", "opus", "m4a")
OPUS_FORMATS = ("webm", "opus")


def expected_rate(fmt: str, rate: int) -> int:
    """Opus always decodes at 48 kHz; MP3/AAC move odd rates up to the next one their codec supports."""
    if fmt in OPUS_FORMATS:
        return 48000
    if fmt in ("mp3", "m4a") and rate == 17000:
        return 22050
    return rate


@pytest.mark.parametrize("rate", [16000, 44100, 17000])
@pytest.mark.parametrize("fmt", [*LOSSLESS, *LOSSY])
def test_round_trip_keeps_duration_and_pitch(fmt: str, rate: int, tmp_path: Path) -> None:
    original = tone(1000, 2.0, rate)
    loaded = audio.load(audio.save(original, tmp_path / f"x.{fmt}"))
    assert loaded.sample_rate == expected_rate(fmt, rate)
    assert loaded.duration == pytest.approx(original.duration, abs=0.002)
    assert abs(dominant_frequency(loaded) - 1000) < 1.0
    if fmt in LOSSLESS:
        np.testing.assert_allclose(loaded.samples, original.samples, atol=LOSSLESS[fmt] + 1e-7)
    else:  # perceptual codecs keep the level of a pure tone within 1 dB
        middle = loaded.samples[loaded.sample_rate // 4 : -loaded.sample_rate // 4]
        assert 20 * np.log10(np.sqrt(np.mean(middle**2)) / (0.5 / np.sqrt(2))) == pytest.approx(0, abs=1.0)


@pytest.mark.parametrize("fmt", [*LOSSLESS, *LOSSY])
def test_round_trip_keeps_timing(fmt: str, tmp_path: Path) -> None:
    """A click at 0.5 s is still at 0.5 s: encoder delay (Opus pre-skip, AAC priming) is removed."""
    rate = 16000
    clicks = np.zeros(rate * 2, np.float32)
    clicks[rate // 2 : rate // 2 + 40] = 0.9 * np.hanning(40)
    loaded = audio.load(audio.save(Audio(clicks, rate), tmp_path / f"click.{fmt}"))
    peak_time = np.argmax(np.abs(loaded.samples)) / loaded.sample_rate
    assert peak_time == pytest.approx(0.5 + 20 / rate, abs=0.002)


def test_saved_file_is_what_the_suffix_says(tmp_path: Path) -> None:
    magic = {"wav": b"RIFF", "flac": b"fLaC", "ogg": b"OggS", "opus": b"OggS", "webm": b"\x1a\x45\xdf\xa3"}
    for fmt, start in magic.items():
        assert audio.save(tone(440, 0.5, 16000), tmp_path / f"x.{fmt}").read_bytes().startswith(start)
    assert audio.save(tone(440, 0.5, 16000), tmp_path / "x.m4a").read_bytes()[4:8] == b"ftyp"


def test_save_rejects_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as info:
        audio.save(tone(440, 0.5, 16000), tmp_path / "x.aiff")
    assert "Cannot save as .aiff" in str(info.value)


def test_wav_bytes_round_trip() -> None:
    original = tone(440, 0.5, 22050)
    loaded = audio.load(audio.to_wav_bytes(original))
    assert loaded.sample_rate == 22050
    np.testing.assert_allclose(loaded.samples, original.samples, atol=1 / 32768 + 1e-7)


def test_long_vorbis_file_saves(tmp_path: Path) -> None:
    """libsndfile 1.2.2 segfaults writing ~3M Vorbis samples in one call; save() writes in blocks.

    Runs in a subprocess so that a crash fails this test instead of killing the test run.
    """
    script = (
        "import sys, numpy as np\n"
        "from lab import audio\n"
        "noise = np.random.default_rng(0).standard_normal(48000 * 65).astype(np.float32) * 0.1\n"
        "print(audio.load(audio.save(audio.Audio(noise, 48000), sys.argv[1])).duration)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "long.ogg")], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert float(done.stdout) == pytest.approx(65.0, abs=0.01)
