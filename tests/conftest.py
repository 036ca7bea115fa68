"""Shared fixtures: the committed multi-speaker speech set and a temp checkpoints folder."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import audio, model_sources, models

FIXTURES = Path(__file__).parent / "fixtures"
SPEECH_DIR = FIXTURES / "speech"


@dataclass(frozen=True)
class Utterance:
    """One fixture utterance: id, speaker, transcript, file and decoded 16 kHz audio."""

    id: str
    speaker: str
    text: str
    path: Path
    audio: audio.Audio


@pytest.fixture(scope="session")
def speech_set() -> list[Utterance]:
    """Every utterance of tests/fixtures/speech (6 speakers x 4 sentences, 16 kHz mono)."""
    with (SPEECH_DIR / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    return [Utterance(r["id"], r["speaker"], r["text"], SPEECH_DIR / r["audio"], audio.load(SPEECH_DIR / r["audio"]))
            for r in rows]


@pytest.fixture(scope="session")
def speech_by_speaker(speech_set: list[Utterance]) -> dict[str, list[Utterance]]:
    """The speech set grouped by speaker name."""
    groups: dict[str, list[Utterance]] = {}
    for utt in speech_set:
        groups.setdefault(utt.speaker, []).append(utt)
    return groups


# Where a user's own setup routes data and capacity: the tests choose these themselves.
USER_SETTINGS = ("VOICELAB_DATA", "VOICELAB_LISTENING_DB", "VOICELAB_LISTENING_AUDIO", "VOICELAB_RUNS_ROOT",
                 "VOICELAB_LIVE_BUDGET", "VOICELAB_LIVE_MAX_SESSIONS")


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read or write a user's voice library, listening database or runs via their environment."""
    for name in USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tmp_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary, empty checkpoints/ folder, offline hub, and fresh registry caches."""
    root = tmp_path / "checkpoints"
    root.mkdir()
    monkeypatch.setenv("VOICELAB_CHECKPOINTS", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model_sources.hub_reachable.cache_clear()
    models._load_cached.cache_clear()
    yield root
    model_sources.hub_reachable.cache_clear()
    models._load_cached.cache_clear()
