"""`python -m eval score`: one JSON object on stdout, skip reasons, errors as null + message, exit 2 on bad audio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eval.__main__ import main
from lab import audio

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wavs(speech_set, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("score")
    joe, slt = speech_set[0], speech_set[4]
    files = {"deg": joe.audio, "prompt": speech_set[1].audio, "other": slt.audio,
             "short": joe.audio.slice(1.0, 1.1)}
    paths = {name: audio.save(a, folder / f"{name}.wav") for name, a in files.items()}
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    paths["broken"] = folder / "broken.wav"
    return paths


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eval", "score", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(Path.home())})


def test_json_is_one_object_with_values_and_skip_reasons(wavs: dict[str, Path]) -> None:
    proc = _run("--deg", str(wavs["deg"]), "--ref", str(wavs["deg"]), "--metrics", "pesq_wb,stoi,wer", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # the whole of stdout is one JSON document
    assert report["metrics"]["pesq_wb"]["value"] == pytest.approx(4.64, abs=0.01)
    assert report["metrics"]["stoi"]["value"] == pytest.approx(1.0)
    assert report["metrics"]["stoi"]["details"]["delay_ms"] == 0.0
    assert report["metrics"]["wer"]["value"] is None
    assert report["skipped"] == {"wer": "not applicable: no expected text"}
    assert report["errors"] == {} and report["models"] == {}


def test_bad_audio_exits_2_with_the_message_on_stderr(wavs: dict[str, Path]) -> None:
    proc = _run("--deg", str(wavs["broken"]), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "The --deg 'broken.wav'" in proc.stderr and "Accepted formats" in proc.stderr


@pytest.mark.parametrize("role", ["--ref", "--prompt"])
def test_the_bad_input_is_named_by_its_option(wavs: dict[str, Path], capsys: pytest.CaptureFixture, role: str) -> None:
    assert main(["score", "--deg", str(wavs["deg"]), role, str(wavs["broken"]), "--json"]) == 2
    assert f"error: The {role} 'broken.wav' is not an audio file" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--metrics", "pesq_wb,psq"], "unknown metric(s) psq"),
    (["--asr", "resemblyzer-ge2e"], "has role 'speaker', not 'asr'"),
])
def test_bad_arguments_exit_2(wavs: dict[str, Path], capsys: pytest.CaptureFixture, args: list[str],
                              message: str) -> None:
    assert main(["score", "--deg", str(wavs["deg"]), *args, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err


def test_failed_metric_is_null_with_an_error_entry(wavs: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(["score", "--deg", str(wavs["short"]), "--ref", str(wavs["short"]),
                 "--metrics", "pesq_wb,stoi", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metrics"]["pesq_wb"]["value"] is None
    assert report["errors"]["pesq_wb"] == "BufferTooShortError: Buffer needs to be at least 1/4 of a second long"
    assert report["errors"]["stoi"].startswith("StoiError:")


@pytest.mark.slow
def test_model_metrics_name_their_models(wavs: dict[str, Path], speech_set, capsys: pytest.CaptureFixture) -> None:
    assert main(["score", "--deg", str(wavs["deg"]), "--prompt", str(wavs["prompt"]), "--text", speech_set[0].text,
                 "--metrics", "speaker_sim,wer,cer,dnsmos_ovrl", "--asr", "whisper-tiny-en-ct2",
                 "--speaker", "resemblyzer-ge2e", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    metrics = report["metrics"]
    assert metrics["wer"]["model"] == metrics["cer"]["model"] == "whisper-tiny-en-ct2"
    assert metrics["speaker_sim"]["model"] == "resemblyzer-ge2e" and metrics["speaker_sim"]["value"] > 0.8
    assert metrics["dnsmos_ovrl"]["model"] == "dnsmos" and 1 <= metrics["dnsmos_ovrl"]["value"] <= 5
    assert metrics["wer"]["value"] == 0.0 and metrics["wer"]["details"]["transcript"]
    assert set(report["models"]) == {"asr", "speaker", "quality"}
    assert report["models"]["asr"]["used"] == "whisper-tiny-en-ct2"
