"""lab.voices + lab.reference: enrol with consent, clean and check the reference, store safely, manage, resolve."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from lab import voices
from lab.audio import Audio, AudioError

pytestmark = pytest.mark.slow


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty voice library under a temporary data folder."""
    monkeypatch.setenv("VOICELAB_DATA", str(tmp_path / "data"))
    return voices.library_root()


def _joined(utterances) -> Audio:
    return Audio(np.concatenate([u.audio.samples for u in utterances]).astype(np.float32), 16000)


def _stored(library: Path) -> list[str]:
    return sorted(p.name for p in library.iterdir())


def test_enroll_stores_clean_reference_embedding_and_meta(library: Path, speech_by_speaker) -> None:
    raw = _joined(speech_by_speaker["slt"][:2]).resample(44100)
    quiet = Audio(np.concatenate([np.zeros(44100, np.float32), raw.samples * 0.1]), 44100)
    voice = voices.enroll("Sally Lee", quiet, consent=True)
    assert voice.name == "sally-lee" and voice.display_name == "Sally Lee"
    assert _stored(library) == ["sally-lee"]
    ref = voice.audio()
    assert ref.sample_rate == 16000
    assert ref.duration < quiet.duration - 0.8  # the leading second of silence is gone
    loudness = pyloudnorm.Meter(16000).integrated_loudness(ref.samples.astype(np.float64))
    assert loudness == pytest.approx(-23.0, abs=1.0)
    embedding = voice.embedding()
    assert embedding is not None and embedding.ndim == 1 and np.linalg.norm(embedding) == pytest.approx(1, abs=1e-3)
    meta = json.loads((voice.folder / voices.META_FILE).read_text())
    assert meta["consent"] == voices.CONSENT_TEXT and meta["embedding_model"]
    assert meta["reference"]["speech_seconds"] > 3 and meta["reference"]["dnsmos"] > 2.0
    assert [v.name for v in voices.list_voices()] == ["sally-lee"]
    assert np.array_equal(voices.resolve_reference("sally-lee").samples, ref.samples)
    assert np.array_equal(voices.get_voice("Sally Lee").audio().samples, ref.samples)


def test_enroll_without_consent_stores_nothing(library: Path, speech_by_speaker) -> None:
    with pytest.raises(voices.VoiceError, match="consent"):
        voices.enroll("anna", speech_by_speaker["slt"][0].audio, consent=False)
    assert _stored(library) == []


def _ten_minutes(tmp_path: Path) -> Path:
    path = tmp_path / "long.wav"
    noise = (np.random.default_rng(0).standard_normal(8000 * 600) * 0.1).astype(np.float32)
    sf.write(path, noise, 8000, subtype="PCM_16")
    return path


def _not_audio(tmp_path: Path) -> Path:
    path = tmp_path / "notes.wav"
    path.write_text("this is a text file pretending to be a recording\n" * 20)
    return path


BAD_REFERENCES = [
    ("silent", lambda tmp, spk: Audio(np.zeros(16000 * 3, np.float32), 16000), "silent"),
    ("0.2 s", lambda tmp, spk: spk["joe"][0].audio.slice(0.5, 0.7), r"only 0\.\d s of speech"),
    ("10 minutes", lambda tmp, spk: _ten_minutes(tmp), r"10\.0 min long; the limit here is 5\.0 min"),
    ("not audio", lambda tmp, spk: _not_audio(tmp), "not a readable audio file|not audio|Accepted formats"),
    ("noise only", lambda tmp, spk: Audio((np.random.default_rng(1).standard_normal(48000) * 0.01)
                                          .astype(np.float32), 16000), "speech"),
]


@pytest.mark.parametrize(("case", "make", "message"), BAD_REFERENCES, ids=[c[0] for c in BAD_REFERENCES])
def test_unusable_reference_is_rejected_clearly_and_nothing_is_stored(
        case: str, make, message: str, library: Path, tmp_path: Path, speech_by_speaker) -> None:
    with pytest.raises(AudioError, match=message):
        voices.enroll("bad", make(tmp_path, speech_by_speaker), consent=True)
    assert _stored(library) == []


def test_short_or_clipped_reference_is_kept_with_warnings(library: Path, speech_by_speaker) -> None:
    speech = speech_by_speaker["rms"][0].audio.slice(0, 2.2)
    clipped = Audio(np.clip(speech.samples * 20, -1, 1).astype(np.float32), 16000)
    voice = voices.enroll("loud", clipped, consent=True)
    warnings = " ".join(voice.meta["reference"]["warnings"])
    assert "cloning works best with 3 to 30 s" in warnings
    assert "clipped" in warnings


@pytest.mark.parametrize(("name", "slug"), [
    ("../../etc/passwd", "etc-passwd"), ("/root/.ssh", "root-ssh"), ("Zoë Çelik", "zoe-celik"), ("A B", "a-b"),
    ("Straße", "strasse"),
])
def test_names_become_safe_slugs_inside_the_library(name: str, slug: str, library: Path) -> None:
    assert voices.slugify(name) == slug


@pytest.mark.parametrize("name", ["", "..", "///", "   ", "日本"])
def test_names_without_usable_characters_are_refused(name: str) -> None:
    with pytest.raises(voices.VoiceError, match="not a usable voice name"):
        voices.slugify(name)


def test_rename_delete_and_duplicates(library: Path, speech_by_speaker) -> None:
    voices.enroll("kal", _joined(speech_by_speaker["kal"][:2]), consent=True)
    with pytest.raises(voices.VoiceError, match="exists already"):
        voices.enroll("KAL", speech_by_speaker["kal"][2].audio, consent=True)
    renamed = voices.rename_voice("kal", "Kal Two")
    assert renamed.name == "kal-two" and _stored(library) == ["kal-two"]
    assert voices.get_voice("kal-two").display_name == "Kal Two"
    voices.delete_voice("kal-two")
    assert _stored(library) == []
    with pytest.raises(voices.VoiceError, match="No enrolled voice named 'kal-two'"):
        voices.get_voice("kal-two")


def test_lookups_take_the_name_not_anything_that_slugifies_alike(library: Path, speech_by_speaker) -> None:
    voices.enroll("Kal Home", _joined(speech_by_speaker["kal"][:2]), consent=True)
    assert voices.get_voice("kal home").name == voices.get_voice("kal-home").name == "kal-home"
    for lookalike in ("../kal-home", "KAL!!HOME", "kal_home"):
        with pytest.raises(voices.VoiceError, match="No enrolled voice named"):
            voices.delete_voice(lookalike)
    assert voices.delete_voice("Kal Home") == "kal-home" and _stored(library) == []


def test_an_enrolment_that_finishes_first_is_never_overwritten(library: Path, speech_by_speaker,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    prepare = voices.reference.prepare

    def slow_prepare(raw, *args, **kwargs):  # another session enrolls the same name meanwhile
        monkeypatch.setattr(voices.reference, "prepare", prepare)
        voices.enroll("Race", _joined(speech_by_speaker["slt"][:2]), consent=True)
        return prepare(raw, *args, **kwargs)

    monkeypatch.setattr(voices.reference, "prepare", slow_prepare)
    with pytest.raises(voices.VoiceError, match="exists already"):
        voices.enroll("Race", _joined(speech_by_speaker["kal"][:2]), consent=True)
    assert _stored(library) == ["race"]
    stored = voices.get_voice("race").audio()
    assert stored.duration > 1.0  # the first enrolment's audio, whole


def test_an_interrupted_enrolment_is_tidied_up_and_an_overwritten_voice_restored(library: Path,
                                                                                 speech_by_speaker) -> None:
    voices.enroll("kept", _joined(speech_by_speaker["kal"][:2]), consent=True)
    aside = library / ".replaced-crash"  # a crash between moving the old voice aside and moving the new one in
    aside.mkdir()
    (library / "kept").rename(aside / "kept")
    (library / ".enroll-crash").mkdir()
    for folder in (aside, library / ".enroll-crash"):
        os.utime(folder, (0, 0))
    voices.enroll("other", _joined(speech_by_speaker["slt"][:2]), consent=True)
    assert _stored(library) == ["kept", "other"] and voices.get_voice("kept").audio().duration > 1.0


@pytest.mark.parametrize(("name", "message"), [
    ("Đorđe", "no Latin spelling here \\(Đđ\\)"), ("Анна Smith", "no Latin spelling"), ("x" * 49, "limit is 48"),
])
def test_names_that_would_lose_letters_or_be_cut_are_refused(name: str, message: str) -> None:
    with pytest.raises(voices.VoiceError, match=message):
        voices.slugify(name)


def test_resolve_reference_accepts_a_file_and_explains_unknown_names(library: Path, speech_set) -> None:
    ref = voices.resolve_reference(str(speech_set[0].path))
    assert ref.sample_rate == 16000 and ref.duration > 1.0
    assert _stored(library) == []
    with pytest.raises(voices.VoiceError, match="Enrolled voices: none yet"):
        voices.resolve_reference("nobody")
