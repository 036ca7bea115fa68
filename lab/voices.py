"""The voice library: reference voices enrolled once, with consent, and used by name everywhere.

A voice is a folder ``<data>/voices/<slug>/`` (data = $VOICELAB_DATA or
<repo>/data, outside git) holding the cleaned reference (``reference.wav``,
16 kHz), its speaker embedding (``speaker_embedding.npy``, from the eval
speaker model) and ``meta.json`` (display name, consent, checks, models).
Nothing is pickled. Names are reduced to a safe slug and checked before any
path is built, so a name can never point outside the library. A voice is
written to a temporary folder and renamed into place, so a failed enrolment
stores nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lab import audio as audio_io
from lab import reference
from lab.audio import Audio, AudioError
from lab.paths import data_root

log = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
MAX_NAME_CHARS = 48
REFERENCE_FILE = "reference.wav"
EMBEDDING_FILE = "speaker_embedding.npy"
META_FILE = "meta.json"
CONSENT_TEXT = "This is my voice, or I have the speaker's permission to clone it."


class VoiceError(ValueError):
    """A voice-library request that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Voice:
    """An enrolled voice.

    Attributes:
        name: the slug (folder name, CLI name).
        folder: where its files live.
        meta: display_name, created (unix s), consent, reference checks, embedding model.
    """

    name: str
    folder: Path
    meta: dict[str, Any]

    @property
    def display_name(self) -> str:
        """The name as the user typed it."""
        return str(self.meta.get("display_name", self.name))

    def audio(self) -> Audio:
        """The cleaned reference (mono, 16 kHz)."""
        return audio_io.load(self.folder / REFERENCE_FILE)

    def embedding(self) -> np.ndarray | None:
        """The stored speaker embedding, shape (D,), or None when none could be computed."""
        path = self.folder / EMBEDDING_FILE
        return np.load(path, allow_pickle=False) if path.is_file() else None


def library_root() -> Path:
    """The voices folder inside the data folder (created on demand)."""
    root = data_root() / "voices"
    root.mkdir(parents=True, exist_ok=True)
    return root


def slugify(name: str) -> str:
    """Turn a display name into a safe slug: lowercase ASCII letters, digits, - and _.

    Raises:
        VoiceError: nothing usable remains.
    """
    name = (name or "").strip()
    if len(name) > MAX_NAME_CHARS:
        raise VoiceError(f"The voice name has {len(name)} characters; the limit is {MAX_NAME_CHARS}.")
    ascii_name = unicodedata.normalize("NFKD", name.casefold()).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "-", ascii_name).strip("-_")[:MAX_NAME_CHARS]
    if not SLUG_RE.match(slug):
        raise VoiceError(f"{name!r} is not a usable voice name: use letters and digits (e.g. 'anna-home').")
    lost = sorted({ch for ch in name if unicodedata.category(ch)[0] in "LN"
                   and not unicodedata.normalize("NFKD", ch.casefold()).encode("ascii", "ignore")})
    if lost:  # letters that would vanish from the slug: 'Анна Smith' would collide with 'Smith'
        raise VoiceError(f"The voice name {name!r} has letters with no Latin spelling here ({''.join(lost)}): "
                         "name the voice in Latin letters (e.g. 'anna-home') so two names cannot collide.")
    return slug


def _folder(name: str) -> Path:
    """The folder of voice ``name`` after checking it is a slug (never a path)."""
    if not SLUG_RE.match(name or ""):
        raise VoiceError(f"{name!r} is not a voice name (names are lowercase letters, digits, - and _).")
    return library_root() / name


def enroll(name: str, source: str | Path | bytes | Audio, consent: bool, overwrite: bool = False) -> Voice:
    """Clean, check and store a reference voice under ``name``.

    Args:
        name: display name; stored under its slug.
        source: uploaded/recorded file (path or bytes) or Audio.
        consent: the user confirmed CONSENT_TEXT; enrolment is refused without it.
        overwrite: replace an existing voice of the same slug.

    Returns:
        The stored voice; its meta holds the reference checks and warnings.

    Raises:
        VoiceError: no consent, bad name, or the name is taken.
        AudioError: the reference is unusable (not audio, silent, < 1 s of speech, > 5 min).
    """
    if consent is not True:
        raise VoiceError(f"Please confirm consent first: “{CONSENT_TEXT}”")
    _recover_interrupted()
    slug = slugify(name)
    final = _folder(slug)
    if final.exists() and not overwrite:
        raise VoiceError(f"A voice named {slug!r} exists already: pick another name or delete it first.")
    raw = source if isinstance(source, Audio) else reference.load(source)
    ref = reference.prepare(raw)
    embedding, embed_model = _embed(ref.audio)
    meta = {"display_name": name.strip(), "created": time.time(), "consent": CONSENT_TEXT,
            "reference": ref.as_dict(), "embedding_model": embed_model}
    staging = Path(tempfile.mkdtemp(prefix=".enroll-", dir=library_root()))
    replaced = None
    try:
        audio_io.save(ref.audio, staging / REFERENCE_FILE)
        if embedding is not None:
            np.save(staging / EMBEDDING_FILE, embedding.astype(np.float32), allow_pickle=False)
        (staging / META_FILE).write_text(json.dumps(meta, indent=2))
        if overwrite and final.exists():
            replaced = Path(tempfile.mkdtemp(prefix=".replaced-", dir=library_root())) / slug
            final.rename(replaced)
        try:  # atomic, and refused when the folder exists: an enrolment of the same name that finished
            staging.rename(final)  # while this one was cleaning its audio is never overwritten
        except OSError:
            raise VoiceError(f"A voice named {slug!r} exists already: pick another name or delete it first.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if replaced is not None:
            shutil.rmtree(replaced.parent, ignore_errors=True)
    log.info("enrolled voice %s (%.1f s of speech)", slug, ref.speech_seconds)
    return Voice(slug, final, meta)


def _recover_interrupted(min_age_s: float = 3600.0) -> None:
    """Tidy up after enrolments a crash interrupted (older than ``min_age_s``, so none still running): a voice
    moved aside for an overwrite goes back if nothing replaced it; staging folders are deleted."""
    root, deadline = library_root(), time.time() - min_age_s
    for folder in [*root.glob(".replaced-*"), *root.glob(".enroll-*")]:
        if folder.stat().st_mtime > deadline:
            continue
        for old in folder.glob("*") if folder.name.startswith(".replaced-") else []:
            if SLUG_RE.match(old.name) and not (root / old.name).exists():
                old.rename(root / old.name)
                log.warning("restored voice %s after an interrupted overwrite", old.name)
        shutil.rmtree(folder, ignore_errors=True)


def list_voices() -> list[Voice]:
    """Every enrolled voice, sorted by name (half-written or foreign folders are skipped)."""
    found = []
    for folder in sorted(library_root().iterdir()):
        if SLUG_RE.match(folder.name) and (folder / META_FILE).is_file() and (folder / REFERENCE_FILE).is_file():
            found.append(Voice(folder.name, folder, json.loads((folder / META_FILE).read_text())))
    return found


def get_voice(name: str) -> Voice:
    """The enrolled voice called ``name`` (slug or display name).

    Raises:
        VoiceError: no such voice (the message lists the enrolled ones).
    """
    wanted = (name or "").strip()
    with contextlib.suppress(VoiceError):
        folder = _folder(slugify(wanted))
        if (folder / META_FILE).is_file():
            voice = Voice(folder.name, folder, json.loads((folder / META_FILE).read_text()))
            # the slug or the display name itself, not anything that slugifies alike ('../x' is not 'x')
            if wanted == voice.name or wanted.casefold() == voice.display_name.casefold():
                return voice
    known = ", ".join(v.name for v in list_voices()) or "none yet"
    raise VoiceError(f"No enrolled voice named {name!r}. Enrolled voices: {known}.")


def rename_voice(old: str, new: str) -> Voice:
    """Rename a voice (its folder and display name).

    Raises:
        VoiceError: ``old`` does not exist or ``new`` is taken or invalid.
    """
    voice = get_voice(old)
    slug = slugify(new)
    target = _folder(slug)
    if target.exists() and slug != voice.name:
        raise VoiceError(f"A voice named {slug!r} exists already.")
    meta = {**voice.meta, "display_name": new.strip()}
    (voice.folder / META_FILE).write_text(json.dumps(meta, indent=2))
    if slug != voice.name:
        voice.folder.rename(target)
    return Voice(slug, target, meta)


def delete_voice(name: str) -> str:
    """Remove a voice and everything stored for it (audio, embeddings, metadata); returns its name.

    Raises:
        VoiceError: no such voice.
    """
    voice = get_voice(name)
    shutil.rmtree(voice.folder)
    return voice.name


def resolve_reference(name_or_path: str, role: str = "reference") -> Audio:
    """The cleaned reference for an enrolled voice name or, failing that, a recording file (CLI use).

    A file is cleaned and checked like an enrolment (nothing is stored); ``role`` ("target", "voice")
    names it in error messages.

    Raises:
        VoiceError: neither an enrolled voice nor an existing file.
        AudioError: the file is not a usable reference.
    """
    value = (name_or_path or "").strip()
    try:
        return get_voice(value).audio()
    except VoiceError:
        if not (Path(value).exists() or Path(value).suffix or "/" in value):
            raise  # a name, not a path: "no enrolled voice named ..." is the message that helps
    raw = reference.load(Path(value), role=role)  # a path: missing, a folder or not audio is said so
    try:
        return reference.prepare(raw, measure_quality=False).audio
    except AudioError as exc:
        raise AudioError(f"The {role} {Path(value).name!r}: {exc}") from exc


def _embed(audio: Audio) -> tuple[np.ndarray | None, str | None]:
    """Speaker embedding of the cleaned reference with the eval speaker model (None when unavailable)."""
    from lab import selfcheck

    try:
        loaded = selfcheck.scorer().model("speaker")
        return np.asarray(loaded.model.embed(audio), dtype=np.float32).reshape(-1), loaded.name
    except (ImportError, RuntimeError, ValueError, OSError) as exc:
        log.warning("no speaker embedding stored: %s", exc)
        return None, None
