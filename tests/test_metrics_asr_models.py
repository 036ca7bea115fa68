"""Assembly of a CTranslate2 model.bin shipped in parts: checksum-verified, atomic, rebuilt when damaged."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from eval.metrics import asr_models
from lab.models import ModelSpec, ModelUnavailable

PARTS = {"pkg_a/data/model.bin.part1": b"first half|", "pkg_b/data/model.bin.part2": b"second half",
         "pkg_a/data/config.json": b"{}", "pkg_a/data/tokenizer.json": b"{}", "pkg_a/data/vocabulary.txt": b"a\n"}
ASSEMBLED = b"first half|second half"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, ModelSpec, list[Path]]:
    """Fake package files, a spec naming them, a private cache, and a loader that records the folder it gets."""
    root = tmp_path / "site-packages"
    for rel, data in PARTS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    spec = ModelSpec("fake-ct2", "asr", "eval.metrics.asr_models:load_ctranslate2_parts", "fake",
                     package="pkg-a", files={rel: "unused" for rel in PARTS})
    monkeypatch.setenv("VOICELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(asr_models.ASSEMBLED_SHA256, "fake-ct2", hashlib.sha256(ASSEMBLED).hexdigest())
    opened: list[Path] = []
    monkeypatch.setattr(asr_models, "FasterWhisperASR", opened.append)
    return root, spec, opened


def test_parts_are_concatenated_in_order_with_side_files(site) -> None:
    root, spec, opened = site
    asr_models.load_ctranslate2_parts(root, spec)
    folder = asr_models.cache_root() / "fake-ct2"
    assert opened == [folder]
    assert (folder / "model.bin").read_bytes() == ASSEMBLED
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]


def test_a_damaged_cached_file_is_rebuilt(site) -> None:
    root, spec, _ = site
    asr_models.load_ctranslate2_parts(root, spec)
    cached = asr_models.cache_root() / "fake-ct2" / "model.bin"
    cached.write_bytes(b"truncated")
    asr_models.load_ctranslate2_parts(root, spec)
    assert cached.read_bytes() == ASSEMBLED


def test_wrong_checksum_refuses_and_leaves_nothing_behind(site, monkeypatch: pytest.MonkeyPatch) -> None:
    root, spec, opened = site
    monkeypatch.setitem(asr_models.ASSEMBLED_SHA256, "fake-ct2", "0" * 64)
    with pytest.raises(ModelUnavailable, match=r"fake-ct2: the assembled model\.bin has SHA-256"):
        asr_models.load_ctranslate2_parts(root, spec)
    assert opened == []
    assert not any(p.name.startswith("model.bin") or p.suffix == ".tmp"
                   for p in (asr_models.cache_root() / "fake-ct2").iterdir())


def test_loading_the_embedded_whisper_does_not_import_torch() -> None:
    """torch costs 1.8 s of a command-line run that needs none (cloning with a known text, for one)."""
    code = ("import sys; from lab import models; models.load('whisper-tiny-en-ct2', allow_fallback=False); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
