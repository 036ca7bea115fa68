"""Batch zips: unsafe members, zip bombs and missing manifests are refused before anything runs."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from eval.bundle import BundleError, extract


def make_zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(("members", "expected"), [
    ({"manifest.csv": b"x", "../evil.wav": b"x"}, "Unsafe path in the zip: '../evil.wav'"),
    ({"manifest.csv": b"x", "/abs/evil.wav": b"x"}, "Unsafe path"),
    ({"manifest.csv": b"x", "a\\..\\..\\evil.wav": b"x"}, "Unsafe path"),
    ({"manifest.csv": b"x", "C:/evil.wav": b"x"}, "Unsafe path"),
    ({"a.wav": b"x"}, "found 0 .csv/.jsonl files"),
    ({"x/one.csv": b"x", "y/two.csv": b"x"}, "found 2 .csv/.jsonl files"),
])
def test_unsafe_or_unusable_zips_are_refused(tmp_path: Path, members: dict, expected: str) -> None:
    with pytest.raises(BundleError) as info:
        extract(make_zip(tmp_path / "b.zip", members), tmp_path / "out")
    assert expected in str(info.value)
    assert not (tmp_path / "evil.wav").exists()


def test_symlinks_member_counts_and_inflated_size_are_limited(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="symbolic link"):
        extract(make_zip(tmp_path / "l.zip", {"manifest.csv": b"x"}, symlink="link.wav"), tmp_path / "o1")
    many = make_zip(tmp_path / "m.zip", {f"{i}.wav": b"x" for i in range(11)})
    with pytest.raises(BundleError, match="holds 11 files; the limit is 10"):
        extract(many, tmp_path / "o2", max_members=10)
    bomb = make_zip(tmp_path / "z.zip", {"manifest.csv": b"x", "big.wav": bytes(5_000_000)})
    assert bomb.stat().st_size < 50_000
    with pytest.raises(BundleError, match="inflates to 5 MB; the limit is 1 MB"):
        extract(bomb, tmp_path / "o3", max_total_bytes=2**20)
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="not a readable zip"):
        extract(tmp_path / "junk.zip", tmp_path / "o4")


def test_manifest_is_found_at_the_top_or_in_the_single_folder(tmp_path: Path) -> None:
    top = extract(make_zip(tmp_path / "a.zip", {"manifest.jsonl": b"{}", "w/a.wav": b"x", "other.csv": b""}),
                  tmp_path / "o1")
    assert top == (tmp_path / "o1" / "manifest.jsonl").resolve()
    nested = extract(make_zip(tmp_path / "b.zip", {"batch/manifest.csv": b"x", "batch/a.wav": b"x",
                                                   "__MACOSX/batch/._a.wav": b"x"}), tmp_path / "o2")
    assert nested == (tmp_path / "o2" / "batch" / "manifest.csv").resolve()
    assert not (tmp_path / "o2" / "__MACOSX").exists()
