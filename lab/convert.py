"""Voice conversion through any registered converter, with timing and provenance.

A converter engine (the ``model`` of a registry spec with role "convert")
provides ``prepare_target(reference) -> data``, ``convert(source, data) ->
(Audio, extra)`` and, for live use, ``streamer(data, chunk_ms)``. This module
adds what every engine needs alike: input checks, the registry (with honest
fallbacks), timing, and the :class:`Target` wrapper that remembers which
engine analysed a voice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from lab import models
from lab.audio import Audio, AudioError, from_array

DEFAULT_ENGINE = "world-knn"  # live streams, and the engine every other one falls back to
DEFAULT_FILE_ENGINE = "world-knn-phones"  # whole files: matches target frames of the same phone (more identity)
MIN_REFERENCE_SECONDS = 1.0
MAX_SOURCE_SECONDS = 10 * 60.0
MAX_REFERENCE_SECONDS = 5 * 60.0


class StreamingConverter(Protocol):
    """One live conversion toward one target voice (explicit state, fixed hop)."""

    sample_rate: int  # rate step() consumes and produces, Hz
    hop_samples: int  # step() is always called with exactly this many new input samples
    lookahead_samples: int  # algorithmic delay beyond the hop: output = input converted, delayed by this

    def initial_state(self) -> Any:
        """State of a new stream."""

    def step(self, chunk: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """(hop_samples,) float32 in -> (hop_samples,) float32 out, plus the new state."""


@dataclass(frozen=True)
class Target:
    """A target voice analysed once by one engine (cache it; the voice library stores it).

    Attributes:
        engine: registry name of the engine that analysed it (the one that really ran).
        data: the engine's own analysis (opaque here).
        reference_seconds: length of the reference audio.
        model: provenance of the engine.
    """

    engine: str
    data: Any
    reference_seconds: float
    model: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConversionResult:
    """Converted audio plus how it was made and how long it took."""

    audio: Audio
    model: dict[str, Any]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rtf(self) -> float:
        """Real-time factor: conversion time / output duration (lower is faster)."""
        return self.seconds / self.audio.duration if self.audio.duration else float("nan")


def prepare_target(reference: Audio, engine: str = DEFAULT_ENGINE) -> Target:
    """Analyse the target voice's reference recording once.

    Args:
        reference: speech of the target speaker, any rate, at least 1 s of speech.
        engine: converter registry name; a fallback, if any, is recorded in ``model``.

    Raises:
        AudioError: reference silent, too short or too long.
        ModelUnavailable: the engine (and its fallback) cannot be loaded.
    """
    _check(reference, "target reference", MIN_REFERENCE_SECONDS, MAX_REFERENCE_SECONDS)
    loaded = _load(engine)
    return Target(loaded.name, loaded.model.prepare_target(reference), reference.duration, loaded.provenance())


def convert(source: Audio, target: Audio | Target, engine: str = DEFAULT_ENGINE,
            transcript: str | None = None) -> ConversionResult:
    """Make ``source`` sound like the target voice, keeping its words and timing.

    Args:
        source: speech to convert, any rate.
        target: reference audio of the target voice, or a Target prepared by the same engine.
        engine: converter registry name.
        transcript: what the source says, when it is known (the text a TTS spoke): a converter that labels
            phones (``takes_transcript``) aligns it instead of transcribing the source; the others do not
            need it.

    Returns:
        ConversionResult at the engine's rate; ``model`` names the engine that ran
        (and the fallback reason, if any); ``extra`` holds engine facts.

    Raises:
        AudioError: unusable source or reference.
        ValueError: a Target prepared by a different engine.
        ModelUnavailable: no engine can be loaded.
    """
    start = time.perf_counter()
    _check(source, "source", 0.0, MAX_SOURCE_SECONDS)
    loaded = _load(engine)
    prepared = target if isinstance(target, Target) else prepare_target(target, engine)
    _check_engine(prepared, loaded.name)
    told = transcript is not None and getattr(loaded.model, "takes_transcript", False)
    audio, extra = loaded.model.convert(source, prepared.data, **({"transcript": transcript} if told else {}))
    return ConversionResult(audio, loaded.provenance(), time.perf_counter() - start, extra)


def streamer(target: Target, engine: str = DEFAULT_ENGINE, chunk_ms: int = 20) -> StreamingConverter:
    """A streaming converter toward ``target`` that consumes ``chunk_ms`` of audio per step.

    Raises:
        ValueError: the engine converts whole files only, a Target of another engine,
            or a chunk size the engine cannot use.
    """
    loaded = require_streaming(engine)
    _check_engine(target, loaded.name)
    return loaded.model.streamer(target.data, chunk_ms)


def require_streaming(engine: str) -> models.Loaded:
    """The loaded converter ``engine`` (or its fallback), checked before any audio is analysed.

    Raises:
        ValueError: not a converter, or one that converts whole files only.
    """
    loaded = _load(engine)
    if getattr(loaded.model, "offline_only", False):
        raise ValueError(f"{loaded.name} converts whole files only; use world-knn for live conversion.")
    return loaded


def _load(engine: str) -> models.Loaded:
    converters = [name for name, spec in models.SPECS.items() if spec.role == "convert"]
    if engine not in converters:
        raise ValueError(f"{engine!r} is not a voice converter; choose one of: {', '.join(converters)}.")
    return models.load(engine)


def _check_engine(target: Target, used: str) -> None:
    if target.engine != used:
        raise ValueError(f"This target voice was prepared by {target.engine}, not {used}; prepare it again.")


def _check(audio: Audio, what: str, min_seconds: float, max_seconds: float) -> None:
    try:
        from_array(audio.samples, audio.sample_rate, require_speech=True, max_seconds=max_seconds,
                   min_seconds=min_seconds)
    except AudioError as exc:
        raise AudioError(f"The {what} is unusable: {exc}") from exc
