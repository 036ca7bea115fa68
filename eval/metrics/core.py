"""Metric metadata, inputs and results: the data every metric family and the runner share.

Metric metadata is data (VERSA style): the scorer skips a metric whose inputs
are missing and says why, and a metric that fails is NaN plus the error
message, never 0.0.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from lab.audio import Audio


@dataclass(frozen=True)
class MetricInfo:
    """What a metric needs and how to read it.

    Attributes:
        name: registry key (``pesq_wb``, ``wer``, ...).
        needs_reference: needs a time-aligned reference of the same content.
        needs_text: needs the expected transcript.
        needs_speaker_prompt: needs a recording of the target speaker.
        higher_is_better: direction of improvement.
        model_role: registry role of the model it runs ("asr", "speaker", "quality") or None.
        unit: unit of the value.
        description: one line for reports.
        value_range: (low, high) range the value can take.
    """

    name: str
    needs_reference: bool
    needs_text: bool
    needs_speaker_prompt: bool
    higher_is_better: bool
    model_role: str | None
    unit: str
    description: str
    value_range: tuple[float, float] = (-math.inf, math.inf)


@dataclass(frozen=True)
class MetricInputs:
    """Everything one utterance offers to the metrics.

    Attributes:
        deg: the audio under test (system output).
        ref: same-content reference (for PESQ/STOI), or None.
        prompt: recording of the target speaker (for speaker similarity), or None.
        text: expected transcript (for WER/CER), or None.
    """

    deg: Audio
    ref: Audio | None = None
    prompt: Audio | None = None
    text: str | None = None


@dataclass
class MetricResult:
    """One metric's outcome for one utterance.

    Attributes:
        name: metric name.
        value: the score; NaN when the metric failed or was skipped.
        model: registry name of the model that produced it (None for pesq/stoi).
        error: the error message when the metric failed.
        skipped: the reason when the metric does not apply to these inputs.
        details: extra facts (transcript, alignment, delay_ms, sub-scores, fallback_reason).
    """

    name: str
    value: float
    model: str | None = None
    error: str | None = None
    skipped: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the metric produced a finite value."""
        return self.error is None and self.skipped is None and math.isfinite(self.value)


def cpu_threads() -> int:
    """Threads per model: follows torch's setting, so a worker that sets 1 thread gets 1 everywhere.

    Before torch is imported nobody can have changed it, and its default is taken without importing it (1.8 s
    of a command-line run that needs no torch): OMP_NUM_THREADS, else the cores this process may use.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        return max(torch.get_num_threads(), 1)
    configured = os.environ.get("OMP_NUM_THREADS", "").strip()
    return max(int(configured) if configured.isdigit() else len(os.sched_getaffinity(0)), 1)


def skipped(name: str, reason: str) -> MetricResult:
    """A metric that does not apply: NaN with the reason."""
    return MetricResult(name, math.nan, skipped=reason)


def failed(name: str, exc: BaseException, model: str | None = None) -> MetricResult:
    """A metric that raised: NaN with the exception's type and message."""
    # The P.862 code raises with bytes messages: decode them rather than show b'...'.
    message = " ".join(a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in exc.args) or str(exc)
    return MetricResult(name, math.nan, model=model, error=f"{type(exc).__name__}: {message}")


_MOS = (1.0, 5.0)
METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("pesq_wb", True, False, False, True, None, "MOS-LQO",
                   "PESQ wide-band (ITU-T P.862.2) at 16 kHz vs the same-content reference", (1.04, 4.64)),
        MetricInfo("pesq_nb", True, False, False, True, None, "MOS-LQO",
                   "PESQ narrow-band (ITU-T P.862 + P.862.1 mapping) at 8 kHz", (1.02, 4.55)),
        MetricInfo("stoi", True, False, False, True, None, "score",
                   "Short-time objective intelligibility (Taal 2011) at 10 kHz", (0.0, 1.0)),
        MetricInfo("estoi", True, False, False, True, None, "score",
                   "Extended STOI (Jensen & Taal 2016) at 10 kHz", (-1.0, 1.0)),
        MetricInfo("speaker_sim", False, False, True, True, "speaker", "cosine",
                   "Cosine similarity of speaker embeddings, output vs speaker prompt", (-1.0, 1.0)),
        MetricInfo("wer", False, True, False, False, "asr", "ratio",
                   "Word error rate of the ASR transcript vs the expected text (normalised)", (0.0, math.inf)),
        MetricInfo("cer", False, True, False, False, "asr", "ratio",
                   "Character error rate of the ASR transcript vs the expected text (normalised)", (0.0, math.inf)),
        MetricInfo("dnsmos_ovrl", False, False, False, True, "quality", "MOS",
                   "DNSMOS P.835 overall quality (no reference)", _MOS),
        MetricInfo("dnsmos_sig", False, False, False, True, "quality", "MOS",
                   "DNSMOS P.835 speech signal quality (no reference)", _MOS),
        MetricInfo("dnsmos_bak", False, False, False, True, "quality", "MOS",
                   "DNSMOS P.835 background noise quality (no reference)", _MOS),
        MetricInfo("dnsmos_p808", False, False, False, True, "quality", "MOS",
                   "DNSMOS P.808 overall quality (no reference)", _MOS),
    )
}


def missing_inputs(info: MetricInfo, inputs: MetricInputs) -> str | None:
    """Why ``info`` cannot run on ``inputs`` (the skip reason), or None when it can."""
    if info.needs_reference and inputs.ref is None:
        return "not applicable: no same-content reference audio"
    if info.needs_speaker_prompt and inputs.prompt is None:
        return "not applicable: no speaker prompt audio"
    if info.needs_text and (inputs.text is None or not inputs.text.strip()):
        return "not applicable: no expected text"
    return None
