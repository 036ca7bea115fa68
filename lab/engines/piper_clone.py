"""Offline zero-shot cloning: Piper speaks the text, the lab's converter turns it into the reference voice.

With no model hub there is no cloning TTS, but there is a TTS (Piper joe) and a
voice converter (lab.convert, engine ``world-knn-phones``). Stages:
``prepare_voice`` (the converter's target from the reference, once per request)
-> Piper synthesis per sentence -> ``convert`` each sentence to the target,
with the sentence as its transcript (phones are aligned to the text Piper
spoke; no speech recognition of the sentence).
Sentences stream as soon as each is converted. Without lab.convert this engine
is unavailable, with that reason, never a fake result.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab import models
from lab.audio import Audio
from lab.text import split_sentences

TTS = "piper-joe"
CONVERTER = "world-knn-phones"
# Piper peaks each sentence at full scale; the conversion reshapes the waveform and its peaks passed full scale
# (34 of 94,737 samples clipped in a 3-sentence clone). Converting at -6 dB leaves room; the converted sentence
# is then peaked at PEAK, as Piper peaks its own (a clone is as loud as Piper's voice, not 6 dB quieter).
HEADROOM = 0.5
PEAK = 0.95
TARGET_CACHE_SIZE = 8  # analysed reference voices kept in memory (an enrolled voice is reused request after request)


@dataclass
class PiperCloneEngine:
    """Piper TTS chained with a voice converter."""

    tts: models.Loaded
    convert_module: Any  # lab.convert
    converter: str = CONVERTER
    sample_rate: int = 16000
    clones = True
    reports_notes = True  # stream() takes ``notes`` (lab.tts passes the job's)
    controls: frozenset[str] = frozenset({"speed", "noise_scale", "noise_w"})
    components: dict[str, Any] = field(default_factory=dict)
    _targets: OrderedDict[bytes, Any] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def prepare_voice(self, reference: Audio) -> Any:
        """The converter's target for ``reference`` (cleaned 16 kHz speech), reused for a repeated reference."""
        key = hashlib.sha1(reference.samples.tobytes() + reference.sample_rate.to_bytes(4, "little")).digest()
        with self._lock:
            if key in self._targets:
                self._targets.move_to_end(key)
                return self._targets[key]
        target = self.convert_module.prepare_target(reference, engine=self.converter)
        with self._lock:
            self._targets[key] = target
            if len(self._targets) > TARGET_CACHE_SIZE:
                self._targets.popitem(last=False)
        return target

    def stream(self, text: str, voice: Any = None, speed: float = 1.0, seed: int | None = None,
               notes: list[str] | None = None, **style: float) -> Iterator[Audio]:
        """Yield one converted Audio per sentence, in order.

        Args:
            text: normalised text (lab.text.prepare).
            voice: a target from :meth:`prepare_voice`, or a reference Audio (prepared here).
            speed: Piper speaking rate (1.0 = natural).
            seed: unused by Piper (see lab.engines.piper); accepted for the common interface.
            notes: what the user should know is appended here, once each: a converter fallback, the
                converter's labelling warnings, a sentence Piper gave no audio for.
            **style: Piper's noise_scale / noise_w, and pitch_semitones when the converter supports a shift.

        Raises:
            ValueError: no voice given.
        """
        if voice is None:
            raise ValueError("Cloning needs a reference voice (an enrolled voice or a recording).")
        target = self.prepare_voice(voice) if isinstance(voice, Audio) else voice
        convert_options = {k: style.pop(k) for k in list(style) if k in self._converter_options()}
        notes = [] if notes is None else notes
        if self.components.get("converter", {}).get("fallback_reason"):
            _note(notes, _fallback_note(self.components["converter"]))
        for sentence in split_sentences(text):
            parts = list(self.tts.model.stream(sentence, None, speed=speed, **style))
            if not parts:
                _note(notes, f"{_quoted(sentence)} gave no audio from {self.tts.name} and was left out.")
                continue
            spoken = Audio(np.concatenate([p.samples for p in parts]) * HEADROOM, parts[0].sample_rate)
            result = self.convert_module.convert(spoken, target, engine=self.converter, transcript=sentence,
                                                 **convert_options)
            if result.model.get("fallback_reason"):
                _note(notes, _fallback_note(result.model))
            for note in _labelling_notes(sentence, result.extra):
                _note(notes, note)
            peak = float(np.max(np.abs(result.audio.samples), initial=0.0))
            yield Audio(result.audio.samples * (PEAK / peak if peak > 0 else 1.0), result.audio.sample_rate)

    def _converter_options(self) -> set[str]:
        """Keyword options lab.convert.convert accepts beyond (source, target, engine)."""
        params = inspect.signature(self.convert_module.convert).parameters
        return {name for name in params if name not in ("source", "target", "engine", "transcript")}


def _note(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)


def _labelling_notes(sentence: str, extra: dict[str, Any]) -> list[str]:
    """What went wrong labelling a sentence's phones (world-knn-phones' facts), said of the sentence."""
    notes = list(extra.get("reference_notes", []))
    if extra.get("source_unlabelled_reason"):
        notes.append(f"{_quoted(sentence)} was converted without phone labels: {extra['source_unlabelled_reason']}.")
    elif extra.get("source_unknown_words"):
        unknown = ", ".join(extra["source_unknown_words"])
        notes.append(f"{_quoted(sentence)}: the pronunciation dictionary lacks {unknown}; the phones around them may "
                     "be misplaced.")
    return notes


def _fallback_note(provenance: dict[str, Any]) -> str:
    return f"converter fallback: {provenance['fallback_reason']}"


def _quoted(sentence: str, limit: int = 60) -> str:
    """A sentence as a note names it: quoted, cut after ``limit`` characters."""
    return f"“{sentence if len(sentence) <= limit else sentence[: limit - 1] + '…'}”"


def load(path: Path | None, spec: models.ModelSpec) -> PiperCloneEngine:
    """Registry loader for ``piper-world-knn``.

    Raises:
        ModelUnavailable: lab.convert (the conversion engine) is not part of this build.
    """
    try:
        from lab import convert
    except ImportError as exc:
        raise models.ModelUnavailable(
            f"{spec.name} is unavailable: the voice converter (lab.convert) is not part of this build yet ({exc})."
        ) from exc
    tts = models.load(TTS, allow_fallback=False)
    converter = models.load(CONVERTER)  # its fallback (world-knn without phone labels) if it cannot be had
    engine = PiperCloneEngine(tts, convert, converter=converter.name,
                              components={"tts": tts.provenance(), "converter": converter.provenance()})
    extra = {"pitch_semitones"} & engine._converter_options()
    engine.controls = engine.controls | extra
    return engine
