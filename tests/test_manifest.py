"""Manifest parsing: whole-manifest errors name the line and column; per-row problems become row errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from eval.manifest import ManifestError, read_manifest


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A manifest folder with two small audio files and a file outside it."""
    root = tmp_path / "batch"
    (root / "audio").mkdir(parents=True)
    for name in ("a.wav", "b.wav"):
        (root / "audio" / name).write_bytes(b"RIFF")
    (tmp_path / "outside.wav").write_bytes(b"RIFF")
    return root


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_every_column(folder: Path) -> None:
    path = write(folder, "m.csv", "id,system,audio,reference,prompt,text\n"
                                  "u1,sysA,audio/a.wav,audio/b.wav,audio/b.wav,Hello there.\n")
    [row] = read_manifest(path)
    assert (row.line, row.id, row.system, row.text) == (2, "u1", "sysA", "Hello there.")
    assert row.audio == (folder / "audio" / "a.wav").resolve()
    assert row.reference == row.prompt == (folder / "audio" / "b.wav").resolve()
    assert row.error is None and row.input_errors == {}


def test_jsonl_rows_and_numeric_ids(folder: Path) -> None:
    lines = [{"id": 7, "system": "s", "audio": "audio/a.wav", "text": "hi"},
             {"id": "x", "system": "s", "audio": "audio/b.wav"}]
    path = write(folder, "m.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    rows = read_manifest(path)
    assert [(r.line, r.id, r.text) for r in rows] == [(1, "7", "hi"), (2, "x", None)]


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("m.csv", "", "empty"),
    ("m.csv", "id,system,audio\n", "no rows"),
    ("m.csv", "id,system\nu1,s\n", "missing required column(s) audio"),
    ("m.csv", "id,id,system,audio\nu1,u2,s,audio/a.wav\n", "line 1: column(s) id appear more than once"),
    ("m.csv", "ID, System ,AUDIO\n,s,audio/a.wav\n", "line 2: the 'id' column is empty"),
    ("m.csv", "id,system,audio\nu1,,audio/a.wav\n", "line 2: the 'system' column is empty"),
    ("m.csv", "id,system,audio\nu1,s,audio/a.wav\nu2,s,audio/b.wav\nu1,s,audio/b.wav\n",
     "line 4: duplicate (system, id) = ('s', 'u1'); first seen on line 2"),
    ("m.csv", "id,system,audio\nu1,s,audio/a.wav,extra\n", "line 2: 4 fields but the header has 3"),
    ("m.csv", "id,system,audio,text\nu1,s,audio/a.wav,hi\n\nu2,s,\"audio/b.wav,hello\nu3,s,audio/c.wav,x\n",
     "line 4: malformed CSV (unexpected end of data; a quote opened on this line is never closed)"),
    ("m.jsonl", '{"id": "u1", "system": "s", "audio": "audio/a.wav"}\n{"id": "u2", "system"\n', "line 2: invalid JSON"),
    ("m.jsonl", '["u1", "s", "audio/a.wav"]\n', "line 1: expected a JSON object"),
    ("m.jsonl", '{"id": "u1", "system": "s", "audio": "a.wav", "Audio ": "b.wav"}\n',
     "line 1: column(s) audio appear more than once in the object"),
    ("m.jsonl", '{"id": "u1", "audio": "audio/a.wav"}\n', "line 1: missing required column(s) system"),
    ("m.txt", "id,system,audio\n", "unknown manifest type"),
])
def test_whole_manifest_errors_name_the_problem(folder: Path, name: str, text: str, expected: str) -> None:
    path = write(folder, name, text)
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert expected in str(info.value)


def test_non_utf8_and_missing_manifest(folder: Path) -> None:
    path = folder / "m.csv"
    path.write_bytes(b"id,system,audio\nu1,s,caf\xe9.wav\n")
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(path)
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(folder / "nope.csv")


def test_unknown_system_when_systems_are_declared(folder: Path) -> None:
    path = write(folder, "m.csv", "id,system,audio\nu1,good,audio/a.wav\nu2,typo,audio/b.wav\n")
    assert len(read_manifest(path, systems=["good", "typo"])) == 2
    with pytest.raises(ManifestError, match="line 3: unknown system 'typo'; expected one of: good"):
        read_manifest(path, systems=["good"])


@pytest.mark.parametrize(("audio", "expected"), [
    ("../outside.wav", "leaves the manifest folder"),
    ("audio/../../outside.wav", "leaves the manifest folder"),
    ("ABSOLUTE_OUTSIDE", "leaves the manifest folder"),
    ("link.wav", "leaves the manifest folder"),
    ("audio/missing.wav", "does not exist"),
    ("audio", "does not exist"),
    ("", "the audio column is empty"),
])
def test_bad_audio_paths_are_row_errors(folder: Path, audio: str, expected: str) -> None:
    os.symlink(folder.parent / "outside.wav", folder / "link.wav")
    audio = str(folder.parent / "outside.wav") if audio == "ABSOLUTE_OUTSIDE" else audio
    path = write(folder, "m.csv", f"id,system,audio\nbad,s,{audio}\nok,s,audio/a.wav\n")
    bad, ok = read_manifest(path)
    assert bad.audio is None and expected in bad.error
    assert ok.error is None and ok.audio is not None


def test_absolute_path_inside_the_folder_and_symlink_inside_are_allowed(folder: Path) -> None:
    os.symlink(folder / "audio" / "a.wav", folder / "inner_link.wav")
    path = write(folder, "m.csv", f"id,system,audio\nu1,s,{folder / 'audio' / 'a.wav'}\nu2,s,inner_link.wav\n")
    assert [r.error for r in read_manifest(path)] == [None, None]


def test_optional_input_problems_are_kept_per_input(folder: Path) -> None:
    path = write(folder, "m.csv", "id,system,audio,reference,prompt,text\n"
                                  "u1,s,audio/a.wav,../outside.wav,audio/gone.wav,   \n"
                                  "u2,s,audio/a.wav,,,fine\n")
    first, second = read_manifest(path)
    assert first.error is None and first.reference is None and first.prompt is None and first.text is None
    assert "leaves the manifest folder" in first.input_errors["reference"]
    assert "does not exist" in first.input_errors["prompt"]
    assert first.input_errors["text"] == "the text column is empty on line 2"
    assert second.input_errors == {} and second.reference is None and second.text == "fine"
