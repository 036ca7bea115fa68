"""`python -m lab` as a user runs it: offline, in a fresh process, one JSON object on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab import audio, models

REPO = Path(__file__).resolve().parent.parent


def run_lab(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m lab ARGS`` offline with empty checkpoints/ and HF cache folders."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VOICELAB_CHECKPOINTS": str(tmp_path / "checkpoints"),
           "HF_HUB_CACHE": str(tmp_path / "hf-cache")}
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)


def only_json_object(stdout: str) -> dict:
    """stdout must be exactly one JSON object (one line) and nothing else."""
    assert stdout.endswith("\n") and stdout.count("\n") == 1, stdout[:500]
    payload = json.loads(stdout)
    assert isinstance(payload, dict)
    return payload


def test_models_json_offline(tmp_path: Path) -> None:
    done = run_lab("models", "--json", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = only_json_object(done.stdout)["models"]
    assert [r["name"] for r in rows] == list(models.SPECS)
    for row in rows:
        assert set(row) >= {"name", "role", "source", "location", "reason"} and row["reason"], row
        spec = models.SPECS[row["name"]]
        if spec.is_hub:
            assert row["location"] in ("hub", "unavailable"), row
            assert row["source"] == f"{spec.hub_id}@{spec.revision}"
        elif spec.package:
            assert row["source"].startswith(f"pip:{spec.package}==")
    without_default = set(models.ROLES) - {r["role"] for r in rows if r["location"] == "embedded"}
    assert not without_default, f"roles without an embedded default: {without_default}"


def test_models_plain_text_names_each_model_with_its_reason(tmp_path: Path) -> None:
    done = run_lab("models", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    assert header.split()[:2] == ["NAME", "ROLE"]
    assert len(lines) == 2 * len(models.SPECS)  # the model's line, then its reason indented below
    for (line, reason), (name, spec) in zip(zip(lines[::2], lines[1::2], strict=True), models.SPECS.items(),
                                            strict=True):
        assert line.split()[:2] == [name, spec.role]
        assert reason.startswith(" ") and reason.strip()


@pytest.mark.slow
def test_tts_writes_speech_and_names_the_model(tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    done = run_lab("tts", "--text", "Hello from the voice lab. This is a short test.", "--engine", "piper-joe",
                   "--out", str(out), "--no-check", "--json", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    result = only_json_object(done.stdout)
    speech = audio.load(out, require_speech=True)
    assert speech.duration > 0.5 and speech.sample_rate == 22050
    assert result["model"]["used"] == "piper-joe" and result["model"]["fallback_reason"] is None
    assert result["duration_s"] == pytest.approx(speech.duration, abs=0.01)
    assert isinstance(result["rtf"], float) and 0 < result["rtf"] < 10


@pytest.mark.parametrize(("args", "message"), [
    (["tts", "--text", "", "--out", "x.wav", "--json"], "The text is empty"),
    (["tts", "--text", "   ", "--out", "x.wav", "--json"], "The text is empty"),
    (["tts", "--text", "Hi.", "--engine", "no-such-engine", "--out", "x.wav", "--json"], "Unknown model"),
    (["tts", "--out", "x.wav", "--json"], "the following arguments are required: --text"),
    (["fetch", "no-such-model"], "invalid choice: 'no-such-model'"),
    (["tts", "--text", "Hi.", "--out", "/no/such/folder/x.wav"], "the folder '/no/such/folder' does not exist"),
])
def test_bad_input_exits_2_with_a_message(args: list[str], message: str, tmp_path: Path) -> None:
    done = run_lab(*args, tmp_path=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""
    assert not (REPO / "x.wav").exists()
