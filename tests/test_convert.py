"""lab.convert (public API) and `python -m lab convert`: results, provenance, bad input, CLI output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lab import audio, convert
from lab.__main__ import main
from lab.audio import Audio, AudioError

RATE = 16000


@pytest.fixture(scope="module")
def slt_target(speech_by_speaker) -> convert.Target:
    return convert.prepare_target(speech_by_speaker["slt"][0].audio)


def test_convert_returns_audio_of_the_source_length_with_provenance(slt_target, speech_by_speaker) -> None:
    source = speech_by_speaker["rms"][1].audio
    result = convert.convert(source, slt_target)
    assert isinstance(result.audio, Audio) and result.audio.sample_rate == RATE
    assert len(result.audio.samples) == len(source.samples)
    assert result.model["used"] == "world-knn" and result.model["requested"] == "world-knn"
    assert result.model["fallback_reason"] is None and result.seconds > 0 and result.rtf > 0
    assert slt_target.engine == "world-knn" and slt_target.reference_seconds == pytest.approx(
        speech_by_speaker["slt"][0].audio.duration)


def test_a_reference_audio_and_its_prepared_target_give_the_same_output(slt_target, speech_by_speaker) -> None:
    source = speech_by_speaker["joe"][0].audio.slice(0, 1.2)
    from_audio = convert.convert(source, speech_by_speaker["slt"][0].audio)
    from_target = convert.convert(source, slt_target)
    assert np.array_equal(from_audio.audio.samples, from_target.audio.samples)


def test_any_source_rate_is_accepted(slt_target, speech_by_speaker) -> None:
    source = speech_by_speaker["awb"][0].audio.slice(0, 1.0).resample(44100)
    result = convert.convert(source, slt_target)
    assert result.audio.duration == pytest.approx(1.0, abs=0.01)


def test_target_prepared_by_another_engine_is_refused(slt_target, speech_by_speaker) -> None:
    foreign = convert.Target("knn-vc-wavlm", None, 3.0)
    with pytest.raises(ValueError, match="prepared by knn-vc-wavlm"):
        convert.convert(speech_by_speaker["awb"][0].audio, foreign)


@pytest.mark.parametrize("engine", ["piper-joe", "no-such-engine"])
def test_a_non_converter_engine_is_refused_with_the_converters(speech_by_speaker, engine: str) -> None:
    with pytest.raises(ValueError, match="not a voice converter; choose one of: world-knn, ") as info:
        convert.convert(speech_by_speaker["awb"][0].audio, speech_by_speaker["slt"][0].audio, engine=engine)
    assert "dnsmos" not in str(info.value) and "piper-joe, " not in str(info.value)


@pytest.mark.parametrize(("samples", "message"), [
    (np.full(RATE * 2, np.nan, np.float32), "NaN"),
    (np.zeros(RATE * 2, np.float32), "silent"),
    (np.full(RATE // 2, 0.1, np.float32), "at least 1"),
])
def test_unusable_references_raise_audio_error(samples: np.ndarray, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        convert.prepare_target(Audio(samples, RATE))


@pytest.mark.parametrize(("samples", "message"), [
    (np.array([0.1, np.inf] * RATE, np.float32), "infinite"),
    (np.zeros(RATE, np.float32), "silent"),
])
def test_unusable_sources_raise_audio_error(slt_target, samples: np.ndarray, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        convert.convert(Audio(samples, RATE), slt_target)


def test_streamer_follows_the_protocol(slt_target) -> None:
    stream = convert.streamer(slt_target, chunk_ms=20)
    assert (stream.sample_rate, stream.hop_samples) == (RATE, 320)
    out, state = stream.step(np.zeros(320, np.float32), stream.initial_state())
    assert out.shape == (320,) and state is not None


def test_cli_converts_a_file_and_prints_json(tmp_path: Path, capsys, speech_set) -> None:
    src, ref = speech_set[0].path, speech_set[5].path  # joe_00 -> slt
    out = tmp_path / "out.wav"
    assert main(["convert", str(src), "--target", str(ref), "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    converted = audio.load(out)
    # Files default to the phone-matching converter; it says what it heard and that nothing went unaligned.
    assert payload["engine"] == "world-knn-phones" and payload["model"]["used"] == "world-knn-phones"
    assert payload["source_transcript"] and payload["warnings"] == []
    assert payload["duration_s"] == pytest.approx(converted.duration, abs=1e-3)
    assert payload["duration_s"] == pytest.approx(speech_set[0].audio.duration, abs=1e-3)
    assert payload["rtf"] > 0 and payload["seconds"] > 0 and payload["sample_rate"] == RATE


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "tests/fixtures/speech/slt_00.flac"], "--out is required"),
    (["--target", "no-such-voice", "--out", "x.wav"], "no-such-voice"),
    (["--target", "SILENT", "--out", "x.wav"], "The target 'silent.wav': The audio is silent"),
    (["--target", "tests/fixtures/speech/slt_00.flac", "--out", "/no/such/folder/x.wav"],
     "the folder '/no/such/folder' does not exist"),
    (["--target", "tests/fixtures/speech/slt_00.flac", "--out", "x.xyz"], "Cannot save as .xyz"),
    (["--target", "tests/fixtures/speech/slt_00.flac", "--out", "converted"], "'converted' has no suffix"),
    (["--target", "tests/fixtures/speech/slt_00.flac", "--out", "/proc/x.wav"], "Cannot write '/proc/x.wav'"),
    (["--target", "tests/fixtures/speech/slt_00.flac", "--out", "tests"], "'tests' has no suffix"),
    (["--target", "/no/such/ref.wav", "--out", "x.wav"], "The target 'ref.wav' does not exist"),
    (["--target", "tests/fixtures", "--out", "x.wav"], "The target 'fixtures' is a folder"),
])
def test_cli_user_errors_exit_2_with_one_line_before_any_conversion(capsys, monkeypatch, tmp_path, speech_set,
                                                                     args: list[str], message: str) -> None:
    monkeypatch.setattr(convert, "convert", lambda *a, **k: pytest.fail("converted before checking the inputs"))
    audio.save(Audio(np.zeros(RATE * 2, np.float32), RATE), tmp_path / "silent.wav")
    args = [str(tmp_path / "silent.wav") if a == "SILENT" else a for a in args]
    assert main(["convert", str(speech_set[0].path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error:")


def test_cli_names_the_source_when_it_is_the_bad_input(capsys, tmp_path, speech_set) -> None:
    audio.save(Audio(np.zeros(RATE * 2, np.float32), RATE), tmp_path / "quiet.wav")
    assert main(["convert", str(tmp_path / "quiet.wav"), "--target", str(speech_set[5].path), "--stream"]) == 2
    assert "The source 'quiet.wav': The audio is silent" in capsys.readouterr().err


@pytest.mark.parametrize("chunk", ["0", "-5", "7", "1005", "1000000", "twenty", "2_0", "²0"])
def test_cli_chunk_size_is_checked_before_anything_loads(capsys, speech_set, chunk: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["convert", str(speech_set[0].path), "--target", str(speech_set[5].path), "--stream", "--chunk-ms", chunk])
    assert info.value.code == 2
    assert "--chunk-ms: must be a multiple of 5 from 5 to 1000 ms" in capsys.readouterr().err


def test_cli_stream_flag_reports_latency_figures(capsys, speech_set) -> None:
    src, ref = speech_set[0].path, speech_set[5].path
    assert main(["convert", str(src), "--target", str(ref), "--stream", "--chunk-ms", "20", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["engine"] == "world-knn" and "audio" not in payload


def test_a_file_only_engine_is_refused_for_streaming_before_any_analysis(capsys, speech_set, monkeypatch) -> None:
    from lab.engines.world_knn_phones import PhoneKnnEngine

    def analysed(*args):
        raise AssertionError("the reference was analysed (and transcribed) before the refusal")

    monkeypatch.setattr(PhoneKnnEngine, "prepare_target", analysed)
    src, ref = speech_set[0].path, speech_set[5].path
    code = main(["convert", str(src), "--target", str(ref), "--engine", "world-knn-phones", "--stream", "--json"])
    assert code == 2
    assert "world-knn-phones converts whole files only; use world-knn" in capsys.readouterr().err
