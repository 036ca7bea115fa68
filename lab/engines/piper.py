"""Piper VITS text-to-speech (ONNX): the embedded offline TTS engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.audio import Audio
from lab.models import ModelSpec


@dataclass
class PiperEngine:
    """A loaded Piper voice; synthesises one sentence at a time."""

    voice: object  # piper.PiperVoice
    sample_rate: int

    def stream(self, text: str, speed: float = 1.0) -> Iterator[Audio]:
        """Yield one Audio per sentence, in order (Piper splits sentences itself).

        Args:
            text: text to speak.
            speed: 1.0 = the voice's own rate; 2.0 = twice as fast.
        """
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / speed, normalize_audio=True)
        for chunk in self.voice.synthesize(text, syn_config=config):
            yield Audio(np.asarray(chunk.audio_float_array, dtype=np.float32), chunk.sample_rate)

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        """Synthesise all of ``text`` into one Audio at the voice's rate."""
        parts = [a.samples for a in self.stream(text, speed)]
        samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return Audio(samples.astype(np.float32), self.sample_rate)


def load(root: Path, spec: ModelSpec) -> PiperEngine:
    """Load the Piper voice whose files ``spec`` lists, from site-packages ``root`` or a checkpoint folder."""
    from piper import PiperVoice

    onnx = next(root / rel for rel in spec.files if rel.endswith(".onnx"))
    voice = PiperVoice.load(onnx, config_path=onnx.with_suffix(".onnx.json"))
    return PiperEngine(voice, int(voice.config.sample_rate))
