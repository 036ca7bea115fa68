"""Objective metrics: one module per family, registered in METRICS with metadata.

Public API (the batch runner, the CLI and the app use only these names)::

    scorer = Scorer(asr=None, speaker=None)          # once per process/worker
    results = scorer.score(MetricInputs(deg, ref=ref, prompt=prompt, text=text), ["pesq_wb", "wer"])
    results["wer"].value, results["wer"].model, results["wer"].details["transcript"]
    scorer.models()                                  # provenance by role
"""

from eval.metrics.core import METRICS, MetricInfo, MetricInputs, MetricResult
from eval.metrics.scorer import Scorer

__all__ = ["METRICS", "MetricInfo", "MetricInputs", "MetricResult", "Scorer"]
