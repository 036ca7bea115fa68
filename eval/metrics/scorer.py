"""The Scorer: one object per process (or worker) that holds the loaded models and scores utterances.

Metrics are grouped in families that share work: PESQ/STOI share one delay
estimate, WER/CER share one ASR transcript, the four DNSMOS scores come from
one model call. Each family module exposes ``score(names, inputs, model)``.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eval.metrics.core import METRICS, MetricInputs, MetricResult, failed, missing_inputs, skipped
from lab import models

log = logging.getLogger(__name__)

DEFAULT_ASR = "whisper-small"  # CPU; falls back to the embedded whisper-base-ct2 offline (reported)
DEFAULT_ASR_GPU = "whisper-large-v3"
DEFAULT_SPEAKER = "ecapa-voxceleb"  # falls back to the embedded resemblyzer-ge2e offline (reported)
# Errors a metric computation or a model load may raise on bad data or a broken model; recorded, never hidden.
METRIC_ERRORS = (RuntimeError, ValueError, OSError)


@dataclass(frozen=True)
class Family:
    """Metrics computed together by one module, with the registry role of their model (None: no model)."""

    module: str
    names: tuple[str, ...]
    role: str | None


FAMILIES = (
    Family("eval.metrics.intrusive", ("pesq_wb", "pesq_nb", "stoi", "estoi"), None),
    Family("eval.metrics.wer", ("wer", "cer"), "asr"),
    Family("eval.metrics.speaker", ("speaker_sim",), "speaker"),
    Family("eval.metrics.dnsmos", ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"), "quality"),
)


class Scorer:
    """Scores utterances with any subset of METRICS; models load lazily, once per Scorer.

    Args:
        asr: ASR model name (registry); default whisper-small on CPU, whisper-large-v3
            when a CUDA GPU is present (decided when the ASR model first loads).
        speaker: speaker-encoder name, default ecapa-voxceleb.
        quality: no-reference quality model name.
        allow_fallback: when a requested model is unavailable, use its embedded
            fallback (reported in every result's details and in :meth:`models`).

    Attributes:
        timings: seconds per family call ("intrusive", "wer", "speaker", "dnsmos"),
            model loading excluded; for benchmarks.
    """

    def __init__(self, asr: str | None = None, speaker: str | None = None, quality: str = "dnsmos",
                 allow_fallback: bool = True) -> None:
        self.requested = {"asr": asr, "speaker": speaker or DEFAULT_SPEAKER, "quality": quality}
        for role, name in self.requested.items():
            if name is not None and models.spec(name).role != role:
                raise models.ModelUnavailable(f"{name!r} has role {models.spec(name).role!r}, not {role!r}")
        self.allow_fallback = allow_fallback
        self._loaded: dict[str, models.Loaded] = {}
        self._load_errors: dict[str, BaseException] = {}
        self.timings: dict[str, list[float]] = {}

    def score(self, inputs: MetricInputs, metrics: list[str] | None = None) -> dict[str, MetricResult]:
        """Score one utterance.

        Args:
            inputs: the output audio and whatever reference, prompt and text exist.
            metrics: names from METRICS (default: all).

        Returns:
            {metric name: MetricResult} in the order requested; inapplicable
            metrics are skipped with a reason, failed ones are NaN with an error.

        Raises:
            ValueError: an unknown metric name.
        """
        return self.score_many([inputs], metrics)[0]

    def score_many(self, batch: Sequence[MetricInputs],
                   metrics: list[str] | None = None) -> list[dict[str, MetricResult]]:
        """Score several utterances; families that can batch their model calls (ASR) do.

        The values are those :meth:`score` gives each utterance alone. When a
        batched family call raises, its utterances are scored one by one, so the
        error lands on the utterance that caused it.

        Returns:
            One {metric name: MetricResult} per utterance, in order (see :meth:`score`).

        Raises:
            ValueError: an unknown metric name.
        """
        names = list(METRICS) if metrics is None else list(dict.fromkeys(metrics))
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ValueError(f"Unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
        results: list[dict[str, MetricResult]] = [{} for _ in batch]
        for family in FAMILIES:
            wanted = [n for n in family.names if n in names]
            groups: dict[tuple[str, ...], list[int]] = {}  # utterances by the metrics they can run
            for i, inputs in enumerate(batch):
                runnable = []
                for name in wanted:
                    reason = missing_inputs(METRICS[name], inputs)
                    if reason:
                        results[i][name] = skipped(name, reason)
                    else:
                        runnable.append(name)
                if runnable:
                    groups.setdefault(tuple(runnable), []).append(i)
            for runnable, members in groups.items():
                outcomes = self._run_family(family, list(runnable), [batch[i] for i in members])
                for i, outcome in zip(members, outcomes, strict=True):
                    results[i].update(outcome)
        return [{n: r[n] for n in names} for r in results]

    def models(self) -> dict[str, dict[str, Any]]:
        """Provenance of the models loaded so far, by role (requested vs used, source, checksums)."""
        out = {}
        for role, loaded in self._loaded.items():
            info = loaded.provenance()
            if loaded.resolution.spec.files:
                info["sha256"] = dict(loaded.resolution.spec.files)
            out[role] = info
        return out

    def model(self, role: str) -> models.Loaded:
        """The loaded model for ``role`` ("asr", "speaker", "quality"), loading it on first use.

        Raises:
            ModelUnavailable, OSError, RuntimeError, ValueError: the model cannot be loaded
                (the same error is raised again on later calls, without retrying).
        """
        if role in self._load_errors:
            raise self._load_errors[role]
        if role not in self._loaded:
            try:
                name = self.requested[role] or _default_asr()
                self._loaded[role] = models.load(name, allow_fallback=self.allow_fallback)
            except METRIC_ERRORS as exc:
                self._load_errors[role] = exc
                raise
        return self._loaded[role]

    def _run_family(self, family: Family, names: list[str],
                    batch: list[MetricInputs]) -> list[dict[str, MetricResult]]:
        loaded = None
        try:
            if family.role is not None:
                loaded = self.model(family.role)
        except METRIC_ERRORS as exc:
            log.warning("%s failed: %s", ", ".join(names), exc)
            return [{n: failed(n, exc) for n in names} for _ in batch]
        module = importlib.import_module(family.module)
        model = loaded.model if loaded else None
        outcomes = None
        if len(batch) > 1 and hasattr(module, "score_many"):
            start = time.perf_counter()
            try:
                outcomes = module.score_many(names, batch, model)
                self._time(family, (time.perf_counter() - start) / len(batch), len(batch))
            except METRIC_ERRORS as exc:
                log.warning("%s failed on a batch of %d (%s); scoring them one by one", ", ".join(names),
                            len(batch), exc)
        if outcomes is None:
            outcomes = [self._run_one(family, module, names, inputs, model) for inputs in batch]
        return [self._label(outcome, loaded) for outcome in outcomes]

    def _run_one(self, family: Family, module: Any, names: list[str], inputs: MetricInputs,
                 model: Any) -> dict[str, MetricResult]:
        start = time.perf_counter()
        try:
            results = module.score(names, inputs, model)
        except METRIC_ERRORS as exc:
            log.warning("%s failed: %s", ", ".join(names), exc)
            return {n: failed(n, exc) for n in names}
        self._time(family, time.perf_counter() - start, 1)
        return results

    def _time(self, family: Family, seconds_each: float, count: int) -> None:
        self.timings.setdefault(family.module.rsplit(".", 1)[1], []).extend([seconds_each] * count)

    @staticmethod
    def _label(results: dict[str, MetricResult], loaded: models.Loaded | None) -> dict[str, MetricResult]:
        """Name the model that produced each result (and any fallback from the requested one)."""
        if loaded is not None:
            for result in results.values():
                result.model = loaded.name
                if loaded.fallback_reason:
                    result.details["fallback_reason"] = loaded.fallback_reason
                    result.details["requested_model"] = loaded.requested
        return results


def _default_asr() -> str:
    """Whisper sized for the hardware: large-v3 on a CUDA GPU, small on CPU."""
    import torch

    return DEFAULT_ASR_GPU if torch.cuda.is_available() else DEFAULT_ASR
