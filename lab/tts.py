"""Text to speech through any registered engine, with timing and provenance."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lab import models
from lab.audio import Audio

MAX_TEXT_CHARS = 5000


@dataclass
class TTSResult:
    """Synthesised audio plus how it was made and how long it took."""

    audio: Audio
    model: dict[str, Any]
    seconds: float
    first_audio_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rtf(self) -> float:
        """Real-time factor: synthesis time / audio duration (lower is faster)."""
        return self.seconds / self.audio.duration if self.audio.duration else float("nan")


def check_text(text: str) -> str:
    """Strip and validate text; raise ValueError with a message a user can act on."""
    text = (text or "").strip()
    if not text:
        raise ValueError("The text is empty: type something to say.")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"The text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}. Split it up.")
    return text


def synthesize(text: str, engine: str = "piper-joe", speed: float = 1.0) -> TTSResult:
    """Speak ``text`` with ``engine`` (a registry name).

    Raises:
        ValueError: empty or over-long text.
        ModelUnavailable: the engine cannot be loaded.
    """
    text = check_text(text)
    start = time.perf_counter()
    loaded = models.load(engine)
    parts, first = [], None
    for part in loaded.model.stream(text, speed=speed):
        parts.append(part.samples)
        first = first if first is not None else time.perf_counter() - start
    import numpy as np

    audio = Audio(np.concatenate(parts).astype(np.float32), loaded.model.sample_rate)
    return TTSResult(audio, loaded.provenance(), time.perf_counter() - start, first or 0.0)
