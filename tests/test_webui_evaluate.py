"""The Evaluate tab's handlers: one clip scored with reasons for skips, a zip batch to downloadable reports."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import gradio as gr
import pytest

from lab import audio
from webui import evaluate, scratch

EVIL = "<script>alert(1)</script>"


def no_progress(*_args, **_kwargs) -> None:
    """Stands in for gr.Progress outside a Gradio request."""


def test_score_one_clip_names_skips_and_rejects_bad_audio(tmp_path: Path, speech_set: list) -> None:
    clip = speech_set[0].path
    rows = evaluate.score_clip(str(clip), str(clip), None, "", ["stoi", "speaker_sim", "wer"])
    by_metric = {r[0]: r for r in rows}
    assert by_metric["stoi"][1] == pytest.approx(1.0)
    assert by_metric["speaker_sim"][1] is None and "no speaker prompt" in by_metric["speaker_sim"][3]
    assert by_metric["wer"][1] is None and "no expected text" in by_metric["wer"][3]
    (tmp_path / "bad.wav").write_bytes(b"RIFFnonsense")
    with pytest.raises(gr.Error):
        evaluate.score_clip(str(tmp_path / "bad.wav"), None, None, "", ["stoi"])
    with pytest.raises(gr.Error, match="Tick at least one metric"):
        evaluate.score_clip(str(clip), None, None, "", [])


def test_batch_zip_gives_report_files_and_summary(tmp_path: Path, speech_set: list,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "root", lambda: tmp_path / "scratch")
    (tmp_path / "scratch").mkdir()
    bundle = tmp_path / "batch.zip"
    wav = tmp_path / "a.wav"
    audio.save(speech_set[0].audio, wav)
    with zipfile.ZipFile(bundle, "w") as z:
        z.writestr("batch/manifest.csv",
                   f'id,system,audio,reference\n"{EVIL}",sys,a.wav,a.wav\nu2,sys,gone.wav,a.wav\n')
        z.write(wav, "batch/a.wav")
    files, table, status = evaluate.evaluate_batch(str(bundle), ["stoi"], 1, progress=no_progress)
    assert [Path(f).name for f in files] == ["report.html", "summary.csv", "results.jsonl", "report.md"]
    assert [row[:7] for row in table] == [["sys", "stoi", "mean of per-utterance values", "-", 1, 1, 0]]
    assert "2 rows scored" in status and "1 could not be scored" in status
    page = Path(files[0]).read_text()
    assert EVIL not in page and "data:audio/wav;base64," in page
    work = next((tmp_path / "scratch").iterdir())
    assert Path(files[0]).is_relative_to(work) and not (work / "input").exists(), "the unpacked upload is deleted"
    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as z:
        z.writestr("../manifest.csv", "id,system,audio\n")
    with pytest.raises(gr.Error, match="Unsafe path"):
        evaluate.evaluate_batch(str(evil_zip), ["stoi"], 1, progress=no_progress)
    assert list((tmp_path / "scratch").iterdir()) == [work], "a failed batch leaves nothing behind"


def test_tab_exposes_named_api_endpoints_without_loading_heavy_modules() -> None:
    with gr.Blocks() as demo:
        evaluate.build()
    assert {f.api_name for f in demo.fns.values()} == {"score", "evaluate_batch"}
    code = ("import sys, gradio as gr\nfrom webui import evaluate\nwith gr.Blocks():\n    evaluate.build()\n"
            "print(sorted(m for m in ('torch', 'onnxruntime', 'ctranslate2', 'pesq') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr
