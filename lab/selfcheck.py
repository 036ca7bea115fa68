"""Self-check of every synthesised output: did it say the text, in the right voice, cleanly?

After synthesis, the output is scored with the eval package's Scorer: ASR word
error rate against the input text (missed or hallucinated words), DNSMOS
overall quality, and, when cloning, speaker similarity to the reference. The
scores are shown next to the audio with the names of the models that made
them; a high WER raises a flag.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from lab.audio import Audio

log = logging.getLogger(__name__)

CHECK_METRICS = ("wer", "cer", "dnsmos_ovrl", "speaker_sim")
WER_FLAG = 0.20  # above this, words were missed or invented: worth a listen
DNSMOS_FLAG = 2.5


@dataclass
class CheckReport:
    """Self-check scores of one output.

    Attributes:
        scores: {metric: {"value", "model", "error", "skipped"}}; value None when not computed.
        transcript: what the ASR heard.
        flags: human-readable warnings (high WER, low quality, failed metrics).
        models: provenance of the scoring models by role.
    """

    scores: dict[str, dict[str, Any]]
    transcript: str | None = None
    flags: list[str] = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)

    def value(self, metric: str) -> float:
        """The metric's value, NaN when it was not computed."""
        value = self.scores.get(metric, {}).get("value")
        return math.nan if value is None else float(value)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN values already None)."""
        return {"scores": self.scores, "transcript": self.transcript, "flags": self.flags, "models": self.models}


@functools.cache
def scorer() -> Any:
    """One Scorer per process: its models load once (best that resolves; fallbacks are reported)."""
    from eval.metrics.scorer import Scorer

    return Scorer()


def check(audio: Audio, text: str, reference: Audio | None = None) -> CheckReport:
    """Score ``audio`` against the ``text`` it should say and, if given, the ``reference`` voice.

    Args:
        audio: the synthesised output, any rate.
        text: the text as the user typed it.
        reference: the cleaned reference recording when cloning, else None (speaker_sim is skipped).

    Returns:
        The report; metrics that fail are None with their error and a flag, never 0.
    """
    from eval.metrics.core import MetricInputs

    shared = scorer()
    metrics = [m for m in CHECK_METRICS if m != "speaker_sim" or reference is not None]
    results = shared.score(MetricInputs(deg=audio, prompt=reference, text=text), metrics=metrics)
    scores = {name: {"value": r.value if math.isfinite(r.value) else None, "model": r.model, "error": r.error,
                     "skipped": r.skipped} for name, r in results.items()}
    report = CheckReport(scores, results["wer"].details.get("transcript") if "wer" in results else None,
                         models=shared.models())
    report.flags = _flags(report)
    return report


def _flags(report: CheckReport) -> list[str]:
    flags = [f"{name} failed: {s['error']}" for name, s in report.scores.items() if s["error"]]
    wer = report.value("wer")
    if wer > WER_FLAG:
        flags.append(f"High word error rate ({wer:.0%}): the ASR heard {report.transcript!r}; "
                     "words may be missing or invented. Listen before using it.")
    quality = report.value("dnsmos_ovrl")
    if quality < DNSMOS_FLAG:
        flags.append(f"Low DNSMOS quality ({quality:.2f} < {DNSMOS_FLAG}): the audio may be noisy or distorted.")
    return flags
