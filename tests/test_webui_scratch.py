"""Scratch space: entries nothing has written to for MAX_AGE_S are pruned, live ones are kept."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from webui import scratch


def test_stale_entries_are_pruned_and_live_ones_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "root", lambda: tmp_path)
    old = time.time() - scratch.MAX_AGE_S - 60
    stale, running, fresh = (tmp_path / name for name in ("stale", "running", "fresh"))
    for folder in (stale, running, fresh):
        (folder / "out").mkdir(parents=True)
        (folder / "out" / "report.html").write_text("x")
    (tmp_path / "stale.wav").write_bytes(b"x")
    for path in (stale, stale / "out", stale / "out" / "report.html", running, running / "out", tmp_path / "stale.wav"):
        os.utime(path, (old, old))
    # a long batch run: its folder is old but it is still writing results
    made = scratch.new_folder("eval-")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["fresh", "running", made.name])
    assert made.name.startswith("eval-") and oct(made.stat().st_mode)[-3:] == "700"


def test_a_planted_root_is_refused_not_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "old.txt").write_text("keep me")
    os.utime(victim / "old.txt", (0, 0))
    (tmp_path / f"voicelab-scratch-{os.getuid()}").symlink_to(victim)
    with pytest.raises(RuntimeError, match="not a private folder of this user"):
        scratch.new_folder("eval-")
    assert (victim / "old.txt").read_text() == "keep me"


def test_the_root_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = scratch.new_folder("tts-")
    assert made.parent == tmp_path / f"voicelab-scratch-{os.getuid()}"
    assert oct(made.parent.stat().st_mode)[-3:] == "700"
