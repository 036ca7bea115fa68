"""`python -m eval run`: exit 2 with a clear message for unusable manifests, reports for good ones."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from eval.__main__ import main
from lab import audio

EVIL = "<script>alert(1)</script>"


@pytest.fixture
def batch(tmp_path: Path, speech_set: list) -> Path:
    folder = tmp_path / "batch"
    folder.mkdir()
    for utt in speech_set[:2]:
        audio.save(utt.audio, folder / f"{utt.id}.wav")
    return folder


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    status = main(["run", *argv, "--no-progress"])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize(("manifest", "message"), [
    ("id,system\nu1,s\n", "m.csv line 1: missing required column(s) audio"),
    ("id,system,audio\nu1,s,joe_00.wav\nu1,s,joe_01.wav\n", "m.csv line 3: duplicate (system, id)"),
    ("", "m.csv: the file is empty"),
])
def test_unusable_manifest_exits_2_and_names_the_problem(
        batch: Path, capsys: pytest.CaptureFixture, manifest: str, message: str) -> None:
    (batch / "m.csv").write_text(manifest)
    status, out, err = run(capsys, str(batch / "m.csv"), "--out", str(batch / "out"), "--metrics", "stoi")
    assert (status, out) == (2, "")
    assert message in err
    assert not (batch / "out" / "results.jsonl").exists()


def test_a_run_writes_results_summary_and_escaped_reports(batch: Path, capsys: pytest.CaptureFixture) -> None:
    (batch / "m.csv").write_text(f"id,system,audio,reference\n\"{EVIL}\",s,joe_00.wav,joe_00.wav\n"
                                 "u2,s,joe_01.wav,joe_00.wav\nu3,s,../escape.wav,joe_00.wav\n")
    out_dir = batch / "out"
    status, out, err = run(capsys, str(batch / "m.csv"), "--out", str(out_dir), "--metrics", "stoi,pesq_wb")
    assert status == 0, err
    assert out.split() == [str(out_dir / n) for n in ("results.jsonl", "summary.csv", "report.md", "report.html")]
    assert "3 rows (0 resumed, 3 scored" in err and "1 could not be scored" in err
    with (out_dir / "summary.csv").open() as f:
        stoi = [r for r in csv.DictReader(f) if r["metric"] == "stoi"]
    assert [(r["system"], r["n"], r["n_failed"]) for r in stoi] == [("s", "2", "1")]
    page = (out_dir / "report.html").read_text()
    assert EVIL not in page and "&lt;script&gt;" in page and "leaves the manifest folder" in page
    status, out, err = run(capsys, str(batch / "m.csv"), "--out", str(out_dir), "--metrics", "stoi,pesq_wb")
    assert status == 2 and "pass --resume" in err
    status, out, err = run(capsys, str(batch / "m.csv"), "--out", str(out_dir), "--metrics", "stoi,pesq_wb",
                           "--resume")
    assert status == 0 and "3 rows (3 resumed, 0 scored" in err


def test_bad_options_are_rejected(batch: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", str(batch / "m.csv"), "--out", str(batch / "out"), "--workers", "0"])
    assert info.value.code == 2 and "must be at least 1" in capsys.readouterr().err
    (batch / "m.csv").write_text("id,system,audio\nu1,s,joe_00.wav\n")
    status, _, err = run(capsys, str(batch / "m.csv"), "--out", str(batch / "out"), "--metrics", "stoi,wre")
    assert status == 2 and "Unknown metric(s) wre" in err
