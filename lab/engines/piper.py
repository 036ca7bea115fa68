"""Piper VITS text-to-speech (ONNX): the embedded offline TTS engine.

Speaks only its own voice (no cloning). Its controls are VITS's sampling
scales: ``noise_scale`` (expressiveness of the voice) and ``noise_w`` (rhythm
variation); ONNX Runtime's sampling cannot be seeded, so setting both to 0 is
the way to get identical output on every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.audio import Audio
from lab.models import ModelSpec
from lab.text import split_sentences


@dataclass
class PiperEngine:
    """A loaded Piper voice; synthesises one sentence at a time."""

    voice: object  # piper.PiperVoice
    sample_rate: int
    clones = False
    controls = frozenset({"speed", "noise_scale", "noise_w"})

    def stream(self, text: str, voice: object = None, speed: float = 1.0, seed: int | None = None,
               noise_scale: float | None = None, noise_w: float | None = None) -> Iterator[Audio]:
        """Yield one Audio per sentence, in order, at the voice's rate (22.05 kHz for joe).

        Args:
            text: normalised text (see lab.text.prepare); split with lab.text.split_sentences.
            voice: must be None: Piper speaks only its own voice.
            speed: 1.0 = the voice's own rate; 2.0 = twice as fast.
            seed: not supported (ONNX sampling is unseeded); use noise_scale=noise_w=0 for determinism.
            noise_scale: VITS latent noise (default from the voice config, 0.667); 0 = flat, monotone.
            noise_w: duration-predictor noise (default 0.8); 0 = identical timing every run.

        Raises:
            ValueError: a reference voice was given, or speed is not positive.
        """
        from piper import SynthesisConfig

        if voice is not None:
            raise ValueError("Piper speaks only its own voice; pick a cloning engine to speak in a reference voice.")
        if speed <= 0:
            raise ValueError(f"Speed must be positive, got {speed}.")
        config = SynthesisConfig(length_scale=1.0 / speed, noise_scale=noise_scale, noise_w_scale=noise_w,
                                 normalize_audio=True)
        for sentence in split_sentences(text):
            for chunk in self.voice.synthesize(sentence, syn_config=config):
                yield Audio(np.asarray(chunk.audio_float_array, dtype=np.float32), chunk.sample_rate)

    def synthesize(self, text: str, speed: float = 1.0, **style: float) -> Audio:
        """Synthesise all of ``text`` into one Audio at the voice's rate."""
        parts = [a.samples for a in self.stream(text, speed=speed, **style)]
        samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return Audio(samples.astype(np.float32), self.sample_rate)


def load(root: Path, spec: ModelSpec) -> PiperEngine:
    """Load the Piper voice whose files ``spec`` lists, from site-packages ``root`` or a checkpoint folder."""
    from piper import PiperVoice

    onnx = next(root / rel for rel in spec.files if rel.endswith(".onnx"))
    voice = PiperVoice.load(onnx, config_path=onnx.with_suffix(".onnx.json"))
    return PiperEngine(voice, int(voice.config.sample_rate))
