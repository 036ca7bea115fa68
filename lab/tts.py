"""Text to speech through any registered engine, sentence by sentence, with timing, provenance and a self-check.

Every engine (lab/engines/) exposes the same interface, :class:`TTSEngine`:
``stream(text, voice, speed, seed, **style)`` yields one Audio per sentence.
This module prepares the text (lab.text), picks and loads the engine, streams
the sentences while timing them, and afterwards scores the result with the
eval package (lab.selfcheck) so the user sees how intelligible it is and how
close to the reference voice it got.

Use :func:`start` to stream (UI: the first sentence plays while the rest is
synthesised) or :func:`synthesize` for the whole result at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from lab import models, text
from lab.audio import Audio

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = text.MAX_CHARS


class TTSEngine(Protocol):
    """What every TTS or cloning engine provides."""

    sample_rate: int
    clones: bool  # True: speaks in a reference voice (voice must be given)
    controls: frozenset[str]  # supported keyword controls: speed, seed, noise_scale, noise_w, pitch_semitones, ...

    def stream(self, text: str, voice: object = None, speed: float = 1.0, seed: int | None = None,
               **style: float) -> Iterator[Audio]:
        """Yield one Audio per sentence of normalised ``text``, in order, in ``voice`` (from prepare_voice).

        An engine with ``reports_notes`` set also takes ``notes``, a list it appends what the user should know to.
        """

    def prepare_voice(self, reference: Audio) -> object:
        """Turn a reference recording into what stream() takes as ``voice`` (cloning engines only)."""


@dataclass
class TTSResult:
    """Synthesised audio plus how it was made, how long it took and how good it is.

    Attributes:
        audio: the whole output at the engine's rate.
        model: provenance of the engine that ran (requested vs used, source, fallback reason).
        seconds: wall time from the call to the last sentence (engine load included).
        first_audio_seconds: wall time from the call to the first sentence's audio.
        sentences: the normalised sentences, in order.
        extra: setup time (engine load + voice preparation), notes (ignored controls, dropped symbols),
            per-sentence seconds, engine components.
        check: self-check scores (lab.selfcheck.CheckReport.as_dict()), or None when skipped.
    """

    audio: Audio
    model: dict[str, Any]
    seconds: float
    first_audio_seconds: float
    sentences: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] | None = None

    @property
    def rtf(self) -> float:
        """Real-time factor: synthesis time / audio duration (lower is faster)."""
        return self.seconds / self.audio.duration if self.audio.duration else float("nan")


def check_text(value: str) -> str:
    """Strip and validate text; raise ValueError (lab.text.TextError) with a message a user can act on."""
    return text.prepare(value).original


def pick_engine(engine: str | None, cloning: bool) -> str:
    """The engine to use: ``engine`` if given, else the best that resolves for TTS or for cloning."""
    return engine or models.default_for("clone" if cloning else "tts")


class Synthesis:
    """One synthesis in progress: iterate :meth:`parts` for audio per sentence, then call :meth:`result`.

    Created by :func:`start`, which validates everything before any audio is made.
    """

    def __init__(self, prepared: text.PreparedText, loaded: models.Loaded, voice: object, reference: Audio | None,
                 options: dict[str, Any], started: float, setup_seconds: float) -> None:
        self.prepared, self.loaded, self.voice, self.reference = prepared, loaded, voice, reference
        self.options, self.started, self.setup_seconds = options, started, setup_seconds
        self._parts: list[Audio] = []
        self._iterator: Iterator[Audio] | None = None
        self._sentence_seconds: list[float] = []
        self._first: float | None = None
        self._finished: float | None = None
        self.notes = list(prepared.notes)

    @property
    def engine(self) -> TTSEngine:
        """The loaded engine."""
        return self.loaded.model

    def parts(self) -> Iterator[Audio]:
        """Synthesise sentence by sentence, yielding each sentence's Audio as soon as it exists.

        There is one synthesis per job: calling parts() again continues where the last call stopped.
        """
        if self._iterator is None:
            self._iterator = self._synthesise()
        return self._iterator

    def _synthesise(self) -> Iterator[Audio]:
        engine, opts = self.engine, dict(self.options)
        seed = opts.pop("seed", None)
        speed = opts.pop("speed", 1.0)
        if getattr(engine, "reports_notes", False):
            opts["notes"] = self.notes
        last = time.perf_counter()
        for index, sentence in enumerate(self.prepared.sentences):
            sentence_seed = None if seed is None else seed + index  # repeatable, yet not the same noise each time
            for part in engine.stream(sentence, self.voice, speed=speed, seed=sentence_seed, **opts):
                now = time.perf_counter()
                self._first = self._first if self._first is not None else now - self.started
                self._sentence_seconds.append(now - last)
                last = now
                self._parts.append(part)
                yield part
        self._finished = time.perf_counter() - self.started

    def audio(self) -> Audio:
        """Everything synthesised so far, joined, at the engine's rate."""
        rate = self._parts[0].sample_rate if self._parts else self.engine.sample_rate
        samples = np.concatenate([p.samples for p in self._parts]) if self._parts else np.zeros(0, np.float32)
        return Audio(samples.astype(np.float32), rate)

    def result(self, check: bool = True) -> TTSResult:
        """The finished result (consumes any parts not yet iterated), self-checked unless ``check`` is False."""
        if self._finished is None:
            for _ in self.parts():
                pass
        extra = {"setup_seconds": self.setup_seconds, "sentence_seconds": self._sentence_seconds,
                 "notes": self.notes, "options": self.options,
                 "components": getattr(self.engine, "components", {})}
        result = TTSResult(self.audio(), self.loaded.provenance(), self._finished or 0.0, self._first or 0.0,
                           self.prepared.sentences, extra)
        if check:
            from lab import selfcheck

            # The spelled-out text is what the engine was asked to say; eval's WER normaliser maps both
            # "five dollars" and the ASR's "$5" to the same form.
            spoken = " ".join(self.prepared.sentences)
            result.check = selfcheck.check(result.audio, spoken, self.reference).as_dict()
        return result


def start(value: str, engine: str | None = None, voice: str | Audio | None = None, speed: float = 1.0,
          seed: int | None = None, **style: float) -> Synthesis:
    """Validate the request, load the engine and return a :class:`Synthesis` ready to stream.

    Args:
        value: the text to speak (at most MAX_TEXT_CHARS characters, Latin script).
        engine: registry name; None = the best engine that resolves (a cloning engine when ``voice`` is given).
        voice: enrolled voice name, path to a reference recording (CLI), or reference Audio; None = engine's voice.
        speed: speaking rate, 1.0 = natural.
        seed: random seed for stochastic engines (ignored, with a note, by others).
        **style: engine controls such as noise_scale, noise_w or pitch_semitones.

    Raises:
        ValueError: bad text (lab.text.TextError), a bad control value, or an engine/voice mismatch.
        AudioError: the reference voice is unusable.
        ModelUnavailable: the engine cannot be loaded.
    """
    started = time.perf_counter()
    prepared = text.prepare(value)
    if not 0.25 <= speed <= 4.0:
        raise ValueError(f"Speed {speed} is out of range: use 0.25 to 4.0 (1.0 = natural).")
    reference = _reference(voice)
    name = pick_engine(engine, cloning=reference is not None)
    loaded = models.load(name)
    model: TTSEngine = loaded.model
    if model.clones and reference is None:
        raise ValueError(f"{loaded.name} speaks in a reference voice: choose an enrolled voice or a recording.")
    if not model.clones and reference is not None:
        raise ValueError(f"{loaded.name} cannot clone a voice; pick a cloning engine or no reference voice.")
    options, notes = _supported_options(loaded.name, model, {"speed": speed, "seed": seed, **style})
    prepared_voice = model.prepare_voice(reference) if reference is not None else None
    synthesis = Synthesis(prepared, loaded, prepared_voice, reference, options, started,
                          time.perf_counter() - started)
    synthesis.notes.extend(notes)
    if loaded.fallback_reason:
        synthesis.notes.append(f"fallback: {loaded.fallback_reason}")
    return synthesis


def synthesize(value: str, engine: str | None = None, voice: str | Audio | None = None, speed: float = 1.0,
               seed: int | None = None, check: bool = False, **style: float) -> TTSResult:
    """Speak ``value`` and return the whole result (see :func:`start` for arguments and errors).

    Args:
        check: run the self-check (ASR WER, DNSMOS, speaker similarity when cloning).
    """
    return start(value, engine, voice, speed, seed, **style).result(check=check)


def _reference(voice: str | Audio | None) -> Audio | None:
    if voice is None or isinstance(voice, Audio):
        return voice
    if not str(voice).strip():
        return None
    from lab import voices

    return voices.resolve_reference(str(voice), role="voice")


def _supported_options(name: str, engine: TTSEngine, requested: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Keep the controls ``engine`` supports; say which requested ones it ignores (never silently)."""
    options, notes = {}, []
    for key, value in requested.items():
        if value is None:
            continue
        if key in engine.controls or (key == "speed" and value == 1.0):
            options[key] = value
        else:
            notes.append(f"{key}={value} ignored: {name} does not support it")
    return options, notes
