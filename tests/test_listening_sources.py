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
