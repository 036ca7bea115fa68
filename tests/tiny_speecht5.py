"""Tiny random SpeechT5 HiFi-GAN and SpeechBrain x-vector checkpoints shared by the SpeechT5 TTS and VC tests.

Built from the real transformers/SpeechBrain classes and saved the way a hub
snapshot is laid out, so the engines' loading code runs unchanged.
"""

from __future__ import annotations

from pathlib import Path

EMBED_DIM = 16
HOP = 256  # HiFi-GAN upsampling 4*4*4*4: samples per mel frame
XVECTOR_YAML = """
pretrained_path: {folder}
n_mels: 24
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.Xvector.Xvector
    in_channels: !ref <n_mels>
    activation: !name:torch.nn.LeakyReLU
    tdnn_blocks: 2
    tdnn_channels: [8, 16]
    tdnn_kernel_sizes: [3, 1]
    tdnn_dilations: [1, 1]
    lin_neurons: {dim}
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
"""


def save_tiny_vocoder_and_xvector(root: Path, xvector_dim: int = EMBED_DIM) -> None:
    """Save tiny random speecht5-hifigan and xvector-voxceleb checkpoints under ``root``."""
    import torch
    from speechbrain.lobes.models.Xvector import Xvector
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    vocoder_config = SpeechT5HifiGanConfig(upsample_initial_channel=16, resblock_kernel_sizes=[3],
                                           resblock_dilation_sizes=[[1, 3, 5]])
    SpeechT5HifiGan(vocoder_config).save_pretrained(root / "speecht5-hifigan")
    xvector_dir = root / "xvector-voxceleb"
    xvector_dir.mkdir()
    xvector = Xvector(in_channels=24, tdnn_blocks=2, tdnn_channels=[8, 16], tdnn_kernel_sizes=[3, 1],
                      tdnn_dilations=[1, 1], lin_neurons=xvector_dim)
    torch.save(xvector.state_dict(), xvector_dir / "embedding_model.ckpt")
    (xvector_dir / "hyperparams.yaml").write_text(XVECTOR_YAML.format(folder=xvector_dir, dim=xvector_dim))
