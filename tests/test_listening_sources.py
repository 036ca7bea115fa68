"""Listening-test sources: eval run folders and uploaded zips, including hostile or broken uploads."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from eval.listening import sources
from eval.listening.sources import SourceError

SPEECH = Path(__file__).parent / "fixtures" / "speech"


def _zip(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


WAV_A, WAV_B = (SPEECH / "joe_00.flac").read_bytes(), (SPEECH / "slt_00.flac").read_bytes()


def test_zip_with_manifest_in_a_subfolder() -> None:
    manifest = "id,system,audio,prompt\nu1,x,a.flac,p.flac\nu1,y,b.flac,p.flac\n"
    stimuli = sources.from_zip(_zip({"set/manifest.csv": manifest, "set/a.flac": WAV_A, "set/b.flac": WAV_B,
                                     "set/p.flac": WAV_A}))
    assert [(s.utterance_id, s.system, s.audio == WAV_A, s.prompt == WAV_A) for s in stimuli] == [
        ("u1", "x", True, True), ("u1", "y", False, True)]


@pytest.mark.parametrize(("files", "message"), [
    ({"readme.txt": "hi"}, "no manifest"),
    ({"manifest.csv": "id,system\nu1,x\n"}, "id, system and audio are required"),
    ({"manifest.csv": "id,system,audio\nu1,x,../../etc/passwd\n"}, "leaves the zip folder"),
    ({"manifest.csv": "id,system,audio\nu1,x,/etc/passwd\n"}, "leaves the zip folder"),
    ({"manifest.csv": "id,system,audio\nu1,x,missing.wav\n"}, "no such file"),
    ({"manifest.csv": "id,system,audio\nu1,x,a.flac\nu1,x,a.flac\n", "a.flac": WAV_A}, "appears twice"),
    ({"manifest.jsonl": "{not json\n"}, "not JSON"),
])
def test_bad_zips_give_clear_errors(files: dict, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        sources.from_zip(_zip(files))


def test_not_a_zip() -> None:
    with pytest.raises(SourceError, match="not a zip"):
        sources.from_zip(b"PK but not really")


def test_run_folder_reads_metrics_and_resolves_relative_audio(tmp_path: Path) -> None:
    rows = [{"id": "joe_00", "system": "x", "audio": str(SPEECH / "joe_00.flac"), "pesq": 3.1,
             "metrics": {"stoi": {"value": 0.9}}, "text": "ignored", "wer": None},
            {"id": "joe_00", "system": "y", "audio": "joe_00.flac", "pesq": 2.0}]
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    stimuli = sources.from_run(tmp_path, audio_root=SPEECH)
    assert stimuli[0].metrics == {"pesq": 3.1, "stoi": 0.9}
    assert stimuli[1].audio == SPEECH / "joe_00.flac"


@pytest.mark.parametrize(("lines", "message"), [
    (None, "no results.jsonl"),
    (['{"id": "u", "system": "x", "audio": "nowhere.wav"}'], "not found"),
    (["{broken"], "not JSON"),
    (['{"id": "u", "audio": "a.wav"}'], "needs id, system and audio"),
    ([], "lists no stimuli"),
])
def test_bad_run_folders_give_clear_errors(tmp_path: Path, lines: list[str] | None, message: str) -> None:
    if lines is not None:
        (tmp_path / "results.jsonl").write_text("\n".join(lines))
    with pytest.raises(SourceError, match=message):
        sources.from_run(tmp_path)


def test_run_folder_in_the_eval_run_format_takes_paths_and_prompts_from_its_manifest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("joe_00", "slt_00", "awb_01"):
        (data / f"{name}.flac").write_bytes((SPEECH / f"{name}.flac").read_bytes())
    (data / "manifest.csv").write_text("id,system,audio,prompt\nu1,x,joe_00.flac,awb_01.flac\n"
                                       "u1,y,slt_00.flac,awb_01.flac\nu2,x,missing.flac,\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"manifest": str(data / "manifest.csv")}))
    metric = {"value": 2.5, "skipped": None, "error": None, "model": "pesq"}
    rows = [{"line": 2, "id": "u1", "system": "x", "audio": "joe_00.flac", "error": None, "metrics": {"pesq": metric}},
            {"line": 3, "id": "u1", "system": "y", "audio": "slt_00.flac", "error": None,
             "metrics": {"pesq": {**metric, "value": None, "error": "failed"}}},
            {"line": 4, "id": "u2", "system": "x", "audio": "missing.flac", "error": "audio: not found", "metrics": {}}]
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    stimuli = sources.from_run(run)
    assert [(s.utterance_id, s.system, s.audio, s.prompt, s.metrics) for s in stimuli] == [
        ("u1", "x", data / "joe_00.flac", data / "awb_01.flac", {"pesq": 2.5}),
        ("u1", "y", data / "slt_00.flac", data / "awb_01.flac", {})]
