"""world-knn-phones: forced phone alignment of a transcript, and the file converter that matches on it."""

from __future__ import annotations

import numpy as np
import pytest

from lab import convert, models
from lab.audio import Audio
from lab.engines import world_analysis as wa
from lab.engines import world_matching as wm
from lab.engines.phone_alignment import PHONES, PhoneAligner
from lab.engines.world_knn import WorldKnnStreamer
from lab.engines.world_knn_phones import PHONE_WEIGHT, PhoneKnnEngine

RATE = wa.SAMPLE_RATE


@pytest.fixture(scope="module")
def engine() -> PhoneKnnEngine:
    return models.load("world-knn-phones", allow_fallback=False).model


@pytest.fixture(scope="module")
def aligner(engine: PhoneKnnEngine) -> PhoneAligner:
    return engine.aligner


def frames_of(audio: Audio) -> int:
    return -(-len(audio.resample(RATE).samples) // wa.FRAME)


def padded(utterance: Audio, seconds: float) -> Audio:
    pad = np.zeros(int(seconds * RATE), np.float32)
    return Audio(np.concatenate([pad, utterance.resample(RATE).samples, pad]), RATE)


def speech_span(audio: Audio) -> tuple[float, float]:
    """(first, last) second of the 10 ms frames within 30 dB of the loudest one."""
    frames = audio.samples[: len(audio.samples) // 160 * 160].reshape(-1, 160)
    level = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    loud = np.flatnonzero(level > level.max() - 30)
    return loud[0] / 100, loud[-1] / 100


def test_alignment_puts_the_phones_where_the_words_are_spoken(aligner, speech_by_speaker) -> None:
    utterance = next(u for u in speech_by_speaker["slt"] if u.id == "slt_05")
    audio = padded(utterance.audio, 1.0)
    alignment = aligner.align(audio, utterance.text, frames_of(audio))
    assert alignment.problem is None and alignment.words[:3] == ("a", "cold", "wind")
    spoken = np.flatnonzero(alignment.phones) * wa.FRAME_MS / 1000
    loud = speech_span(audio)
    assert abs(spoken[0] - loud[0]) <= 0.06 and abs(spoken[-1] - loud[1]) <= 0.1
    runs = [PHONES[p] for i, p in enumerate(alignment.phones) if p and (i == 0 or alignment.phones[i - 1] != p)]
    cold = runs.index("K")
    assert runs[cold : cold + 4] == ["K", "OW", "L", "D"]


def test_a_transcript_without_known_words_gives_no_labels_and_says_why(aligner, speech_by_speaker) -> None:
    audio = speech_by_speaker["awb"][0].audio
    alignment = aligner.align(audio, "zzqx", frames_of(audio))
    assert alignment.skipped == ("zzqx",) and "no word" in alignment.problem
    assert not alignment.one_hot(PHONE_WEIGHT).any()  # matching falls back to the cepstra alone


def test_numbers_in_a_transcript_are_aligned_as_words(aligner, speech_by_speaker) -> None:
    utterance = next(u for u in speech_by_speaker["awb"] if u.id == "awb_01")  # "...bring three apples..."
    alignment = aligner.align(utterance.audio, utterance.text.replace("three", "3"), frames_of(utterance.audio))
    assert "three" in alignment.words and alignment.problem is None


def test_one_hot_rows_carry_the_weight_at_the_frame_phone(aligner, speech_by_speaker) -> None:
    utterance = speech_by_speaker["kal"][0]
    alignment = aligner.align(utterance.audio, utterance.text, frames_of(utterance.audio))
    hot = alignment.one_hot(PHONE_WEIGHT)
    assert hot.shape == (frames_of(utterance.audio), len(PHONES))
    assert np.array_equal(hot.argmax(axis=1), alignment.phones) and set(np.unique(hot)) == {0.0, PHONE_WEIGHT}


def test_phone_matching_is_for_files_only(speech_by_speaker) -> None:
    reference = speech_by_speaker["rms"][0].audio
    target = convert.prepare_target(reference, "world-knn-phones")
    with pytest.raises(ValueError, match=r"whole files only.*world-knn"):
        convert.streamer(target, "world-knn-phones")


def test_a_phone_tagged_voice_refuses_an_untagged_source(engine, speech_by_speaker) -> None:
    voice = engine.prepare_target(speech_by_speaker["joe"][0].audio).voice
    assert wm.tag_dims(voice) == len(PHONES)
    with pytest.raises(ValueError, match="tag columns"):
        WorldKnnStreamer(voice, engine.settings, 20, engine.noise)


class SilentASR:
    """Hears nothing (as Whisper does in noise)."""

    def transcribe(self, audio: Audio) -> str:
        return ""


def test_conversion_names_what_could_not_be_phone_aligned(engine, speech_by_speaker) -> None:
    voice = engine.prepare_target(speech_by_speaker["espf"][0].audio)
    deaf = PhoneKnnEngine(aligner=engine.aligner, asr=SilentASR())
    source = speech_by_speaker["slt"][-1].audio
    out, extra = deaf.convert(source, voice)
    assert out.duration == pytest.approx(source.duration, abs=0.01) and np.isfinite(out.samples).all()
    assert extra["phones_aligned"] is False
    assert extra["warnings"] == ["The source was matched without phone labels: no word of the transcript to align."]
    assert extra["reference_transcript"]  # the real ASR heard the reference


def test_conversion_reports_both_transcripts(engine, speech_by_speaker) -> None:
    voice = engine.prepare_target(speech_by_speaker["espf"][0].audio)
    source = next(u for u in speech_by_speaker["slt"] if u.id == "slt_05")
    _, extra = engine.convert(source.audio, voice)
    assert extra["phones_aligned"] is True and extra["warnings"] == []
    assert "parking lot" in extra["source_transcript"].lower()


class NoASR:
    def transcribe(self, audio: Audio) -> str:
        raise AssertionError("the source was transcribed although its transcript was given")


def test_a_known_transcript_is_aligned_instead_of_transcribing_the_source(engine, speech_by_speaker) -> None:
    voice = engine.prepare_target(speech_by_speaker["espf"][0].audio)
    source = next(u for u in speech_by_speaker["slt"] if u.id == "slt_05")
    told = PhoneKnnEngine(aligner=engine.aligner, asr=NoASR())
    _, extra = told.convert(source.audio, voice, transcript=source.text)
    assert extra["source_transcript"] == source.text and extra["phones_aligned"] is True
    assert extra["warnings"] == []


def test_convert_hands_a_transcript_only_to_converters_that_align_it(speech_by_speaker) -> None:
    reference, source = speech_by_speaker["espf"][0].audio, speech_by_speaker["slt"][-1]
    phones = convert.convert(source.audio, reference, "world-knn-phones", transcript="zebra " + source.text)
    assert phones.extra["source_transcript"] == "zebra " + source.text
    plain = convert.convert(source.audio, reference, "world-knn", transcript=source.text)
    assert plain.model["used"] == "world-knn" and "source_transcript" not in plain.extra


def test_recordings_too_long_to_align_are_converted_and_say_so(engine, speech_by_speaker, monkeypatch) -> None:
    from lab.engines import world_knn_phones

    voice = engine.prepare_target(speech_by_speaker["espf"][0].audio)
    monkeypatch.setattr(world_knn_phones, "MAX_ALIGN_SECONDS", 1.0)
    source = speech_by_speaker["kal"][-1].audio
    out, extra = engine.convert(source, voice)
    assert out.duration == pytest.approx(source.duration, abs=0.01)
    assert extra["warnings"] == ["The source was matched without phone labels: recordings over 1 s are not "
                                 "phone-aligned."]


def test_labels_do_not_depend_on_what_was_aligned_before(aligner, speech_by_speaker) -> None:
    first, other = speech_by_speaker["slt"][2], speech_by_speaker["rms"][1]

    def labels(u):
        return aligner.align(u.audio, u.text, frames_of(u.audio)).phones

    before = labels(first)
    labels(other)
    assert np.array_equal(labels(first), before)


class FixedASR:
    """Hears a given text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def transcribe(self, audio: Audio) -> str:
        return self.text


def test_words_the_dictionary_lacks_are_named(engine, speech_by_speaker) -> None:
    voice = engine.prepare_target(speech_by_speaker["espf"][0].audio)
    source = next(u for u in speech_by_speaker["slt"] if u.id == "slt_05")
    odd = PhoneKnnEngine(aligner=engine.aligner, asr=FixedASR(source.text.replace("cold", "flurbinator")))
    _, extra = odd.convert(source.audio, voice)
    assert extra["phones_aligned"] is True
    assert extra["warnings"] == ["The source's transcript has words the pronunciation dictionary lacks "
                                 "(flurbinator): the phones around them may be misplaced."]


def test_a_looping_transcript_is_not_forced_onto_the_audio(aligner, speech_by_speaker) -> None:
    audio = speech_by_speaker["kal"][0].audio
    alignment = aligner.align(audio, "one " * 60, frames_of(audio))
    assert alignment.problem.startswith(f"the transcript has 60 words for {audio.duration:.1f} s")


def test_accented_words_are_looked_up_whole(aligner, speech_by_speaker) -> None:
    audio = speech_by_speaker["kal"][0].audio
    assert aligner.align(audio, "Café résumé", frames_of(audio)).words == ("cafe", "resume")


def test_curly_apostrophes_and_quotes_give_the_labels_of_plain_text(aligner, speech_by_speaker) -> None:
    utterance = speech_by_speaker["slt"][0]
    audio, n = utterance.audio, frames_of(utterance.audio)
    plain = aligner.align(audio, "I don't know, it's fine", n)
    assert aligner.align(audio, "I don’t know, it’s fine", n).phones.tolist() == plain.phones.tolist()
    quoted = aligner.align(audio, "'I don't know,' 'it's fine.'", n)
    assert quoted.skipped == () and quoted.words == plain.words


def test_a_known_text_is_aligned_at_any_speaking_rate(aligner, speech_by_speaker) -> None:
    audio = speech_by_speaker["kal"][0].audio  # 3 s: 24 words is 8 a second, more than a recogniser's honest output
    text = "I do not know if it is so but I am in it and so is he and she and we are here now"
    assert aligner.align(audio, text, frames_of(audio), recognised=False).problem is None
    assert "repeated itself" in aligner.align(audio, text, frames_of(audio)).problem


def test_without_a_recogniser_the_source_is_converted_and_the_note_names_it(engine, speech_by_speaker,
                                                                             monkeypatch) -> None:
    voice = engine.prepare_target(speech_by_speaker["espf"][0].audio)

    def unavailable(name, **kwargs):
        raise models.ModelUnavailable(f"Model {name!r} is unavailable: not installed")

    monkeypatch.setattr(models, "load", unavailable)
    source = speech_by_speaker["slt"][-1].audio
    out, extra = PhoneKnnEngine(aligner=engine.aligner).convert(source, voice)
    assert out.duration == pytest.approx(source.duration, abs=0.01)
    assert extra["phones_aligned"] is False
    assert extra["warnings"] == ["The source was matched without phone labels: no speech recogniser to transcribe "
                                 "it (Model 'whisper-tiny-en-ct2' is unavailable: not installed)."]


def test_a_long_reference_is_cut_to_its_first_30_s_and_says_so(engine, speech_by_speaker) -> None:
    from lab.engines.world_knn_phones import MAX_REFERENCE_SECONDS

    utterances = [u.audio.resample(RATE).samples for u in speech_by_speaker["rms"]]
    long = Audio(np.concatenate(utterances * 4), RATE)  # 4 x 4 utterances: about 59 s
    assert long.duration > 2 * MAX_REFERENCE_SECONDS - 5
    voice = engine.prepare_target(long)
    assert voice.notes == (f"Only the first 30 s of the {long.duration:.0f} s target reference were used: more rarely "
                           "helps, and transcribing and aligning it takes long.",)
    assert voice.labelled and voice.voice.speech_seconds <= MAX_REFERENCE_SECONDS
