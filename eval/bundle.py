"""Uploaded batch bundles: a zip holding a manifest and its audio, unpacked safely.

A zip from a stranger can hold ``../../etc/passwd``, absolute paths,
symlinks, a million members or a few KB that inflate to terabytes. Every
member is checked before anything is written, the sizes are enforced while
inflating (the header's sizes can lie), and the manifest is found by name.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

MAX_MEMBERS = 5_000
MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # uncompressed
MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")
MANIFEST_SUFFIXES = (".csv", ".jsonl")
_CHUNK = 1 << 20


class BundleError(ValueError):
    """The zip cannot be used; the message says why."""


def extract(zip_path: str | Path, dest: str | Path, *, max_members: int = MAX_MEMBERS,
            max_total_bytes: int = MAX_TOTAL_BYTES) -> Path:
    """Unpack ``zip_path`` into ``dest`` and return the manifest's path.

    Args:
        zip_path: the uploaded zip.
        dest: an empty folder to unpack into.
        max_members: most files accepted.
        max_total_bytes: most bytes accepted after inflating, in total.

    Returns:
        Path of the manifest: ``manifest.csv``/``manifest.jsonl`` at the top (or in the one top folder),
        else the only .csv/.jsonl file of the zip.

    Raises:
        BundleError: not a zip, unsafe member names or types, too many or too large members, no manifest.
    """
    dest = Path(dest).resolve()
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"The upload is not a readable zip file ({exc}).") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not _ignored(m.filename)]
        if len(members) > max_members:
            raise BundleError(f"The zip holds {len(members)} files; the limit is {max_members}.")
        declared = sum(m.file_size for m in members)
        if declared > max_total_bytes:
            raise BundleError(f"The zip inflates to {declared / 2**20:.0f} MB; the limit is "
                              f"{max_total_bytes / 2**20:.0f} MB.")
        targets = [(_check_member(m, dest), m) for m in members]
        written = 0
        for target, member in targets:
            written = _inflate(archive, member, target, written, max_total_bytes)
    return _find_manifest(dest, [t for t, _ in targets])


def _ignored(name: str) -> bool:
    return name.startswith("__MACOSX/") or PurePosixPath(name).name in (".DS_Store", "Thumbs.db")


def _check_member(member: zipfile.ZipInfo, dest: Path) -> Path:
    name = member.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or ":" in name or "\x00" in name or not path.parts:
        raise BundleError(f"Unsafe path in the zip: {name!r}. Members must be relative paths inside the zip.")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise BundleError(f"The zip member {name!r} is a symbolic link; only regular files are accepted.")
    target = (dest / Path(*path.parts)).resolve()
    if not target.is_relative_to(dest):
        raise BundleError(f"Unsafe path in the zip: {name!r}.")
    return target


def _inflate(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, written: int, limit: int) -> int:
    """Copy one member, counting real inflated bytes against the member's header and the total limit."""
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with archive.open(member) as source, target.open("wb") as sink:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > member.file_size or written + size > limit:
                    raise BundleError(f"The zip member {member.filename!r} inflates beyond its declared size "
                                      "or the total limit; the zip is damaged or hostile.")
                sink.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        raise BundleError(f"Cannot unpack {member.filename!r}: {exc}.") from None
    return written + size


def _find_manifest(dest: Path, files: list[Path]) -> Path:
    tops = {p.relative_to(dest).parts[0] for p in files if len(p.relative_to(dest).parts) > 1}
    for folder in (dest, *(dest / t for t in tops if len(tops) == 1)):
        for name in MANIFEST_NAMES:
            if folder / name in files:
                return folder / name
    candidates = [p for p in files if p.suffix.lower() in MANIFEST_SUFFIXES]
    if len(candidates) == 1:
        return candidates[0]
    raise BundleError("Put one manifest.csv or manifest.jsonl (columns id, system, audio [, reference, prompt, "
                      f"text]) at the top of the zip; found {len(candidates)} .csv/.jsonl files.")
