"""DNSMOS (Microsoft's no-reference speech quality predictor) with the ONNX models in ``speechmos``.

One model call yields all four scores: P.835 SIG (speech), BAK (background),
OVRL (overall) and P.808 overall. speechmos' ``DNSMOS`` class does the
framing (9 s windows, 1 s hop; shorter clips are repeated to 9 s, as in the
reference DNSMOS script) and the polynomial calibration; we give it the model
files verified by our registry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eval.metrics.core import MetricInputs, MetricResult, cpu_threads
from lab.audio import Audio
from lab.models import ModelSpec, ModelUnavailable

DNSMOS_RATE = 16000
_KEYS = {"dnsmos_ovrl": "ovrl_mos", "dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_p808": "p808_mos"}


class Dnsmos:
    """The P.835 (sig_bak_ovr.onnx) and P.808 (model_v8.onnx) predictors."""

    def __init__(self, primary: Path, p808: Path) -> None:
        import onnxruntime as ort
        from speechmos.dnsmos import DNSMOS

        self.model = DNSMOS(str(primary), str(p808))
        # speechmos opens its sessions with default options (all cores); reopen them with our thread budget.
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = cpu_threads()
        self.model.onnx_sess = ort.InferenceSession(str(primary), options, providers=["CPUExecutionProvider"])
        self.model.p808_onnx_sess = ort.InferenceSession(str(p808), options, providers=["CPUExecutionProvider"])

    def predict(self, audio: Audio) -> dict[str, float]:
        """All four DNSMOS scores of ``audio``.

        Args:
            audio: speech, any rate (resampled to 16 kHz; resampling overshoot is clipped to [-1, 1]).

        Returns:
            {"dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"}: MOS values on a 1-5 scale.
        """
        samples = np.clip(audio.resample(DNSMOS_RATE).samples, -1.0, 1.0)
        raw = self.model(samples, DNSMOS_RATE, False)
        return {name: float(raw[key]) for name, key in _KEYS.items()}


def load(path: Path | None, spec: ModelSpec) -> Dnsmos:
    """Registry loader: ``path`` is the site-packages root holding speechmos' model files."""
    if path is None:
        raise ModelUnavailable(f"{spec.name}: no package folder to load from")
    primary = next(rel for rel in spec.files if rel.endswith("sig_bak_ovr.onnx"))
    p808 = next(rel for rel in spec.files if rel.endswith("model_v8.onnx"))
    return Dnsmos(path / primary, path / p808)


def score(names: list[str], inputs: MetricInputs, model: Dnsmos) -> dict[str, MetricResult]:
    """The requested DNSMOS scores of ``inputs.deg``, all from one prediction."""
    scores = model.predict(inputs.deg)
    return {name: MetricResult(name, scores[name]) for name in names}
