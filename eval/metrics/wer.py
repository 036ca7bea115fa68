"""Word and character error rates of an ASR transcript against the expected text (jiwer).

Both texts are normalised the Whisper way first (eval.normalize), so "Mr." vs
"mister" or "$20" vs "twenty dollars" is not an error. One transcript serves
WER and CER. Each result keeps the counts (for corpus-level WER = sum of
errors / sum of reference words) and the alignment (for reports).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import jiwer

from eval.metrics.core import MetricInputs, MetricResult
from eval.normalize import normalize_text
from lab.audio import Audio


class Transcriber(Protocol):
    """An ASR model wrapper (eval.metrics.asr_models)."""

    def transcribe(self, audio: Audio) -> str:
        """English transcript of ``audio``."""

    def transcribe_many(self, audios: Sequence[Audio]) -> list[str]:
        """English transcripts of several clips, in order."""


class EmptyReferenceError(ValueError):
    """The expected text has no words left after normalisation; an error rate is undefined."""


@dataclass(frozen=True)
class WordErrorResult:
    """Edit-distance outcome of one hypothesis against one reference (words or characters).

    Attributes:
        rate: (substitutions + deletions + insertions) / reference units.
        substitutions, deletions, insertions, hits: alignment counts.
        reference, hypothesis: the normalised texts that were compared.
        alignment: chunks {"type": equal|substitute|delete|insert, "ref": [...], "hyp": [...]}.
        alignment_text: jiwer's REF/HYP/markers rendering of the alignment.
    """

    rate: float
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    reference: str
    hypothesis: str
    alignment: list[dict[str, Any]] = field(default_factory=list)
    alignment_text: str = ""

    @property
    def errors(self) -> int:
        """Substitutions + deletions + insertions."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def ref_units(self) -> int:
        """Number of reference words (or characters): substitutions + deletions + hits."""
        return self.substitutions + self.deletions + self.hits

    def as_details(self) -> dict[str, Any]:
        """JSON-ready details for a MetricResult."""
        return {
            "reference": self.reference, "hypothesis": self.hypothesis, "errors": self.errors,
            "ref_units": self.ref_units, "substitutions": self.substitutions, "deletions": self.deletions,
            "insertions": self.insertions, "hits": self.hits, "alignment": self.alignment,
            "alignment_text": self.alignment_text,
        }


def word_error(ref_text: str, hyp_text: str) -> WordErrorResult:
    """Word error of ``hyp_text`` against ``ref_text`` after Whisper English normalisation.

    Args:
        ref_text: the expected text.
        hyp_text: the ASR transcript (may be empty: every word is then deleted).

    Returns:
        WordErrorResult over words; ``ref_units`` is the reference word count.

    Raises:
        EmptyReferenceError: ``ref_text`` has no words after normalisation.
    """
    return _edit_error(ref_text, hyp_text, by_character=False)


def char_error(ref_text: str, hyp_text: str) -> WordErrorResult:
    """Character error of ``hyp_text`` against ``ref_text`` after normalisation (spaces count).

    Raises:
        EmptyReferenceError: ``ref_text`` is empty after normalisation.
    """
    return _edit_error(ref_text, hyp_text, by_character=True)


def score(names: list[str], inputs: MetricInputs, model: Transcriber) -> dict[str, MetricResult]:
    """Transcribe ``inputs.deg`` once and compute the requested error rates against ``inputs.text``."""
    return score_many(names, [inputs], model)[0]


def score_many(names: list[str], batch: Sequence[MetricInputs], model: Transcriber) -> list[dict[str, MetricResult]]:
    """:func:`score` for several utterances, their transcription batched (see ``transcribe_many``)."""
    assert all(inputs.text is not None for inputs in batch), "callers skip wer/cer without text"
    transcripts = model.transcribe_many([inputs.deg for inputs in batch])
    return [_error_rates(names, inputs.text, transcript) for inputs, transcript in zip(batch, transcripts, strict=True)]


def _error_rates(names: list[str], text: str, transcript: str) -> dict[str, MetricResult]:
    results = {}
    for name in names:
        compute = word_error if name == "wer" else char_error
        try:
            outcome = compute(text, transcript)
        except EmptyReferenceError as exc:
            results[name] = MetricResult(name, math.nan, error=f"{type(exc).__name__}: {exc}",
                                         details={"transcript": transcript})
            continue
        results[name] = MetricResult(name, outcome.rate, details={"transcript": transcript, **outcome.as_details()})
    return results


def _edit_error(ref_text: str, hyp_text: str, by_character: bool) -> WordErrorResult:
    ref, hyp = normalize_text(ref_text), normalize_text(hyp_text)
    if not ref.strip():
        raise EmptyReferenceError(f"the expected text {ref_text!r} has no words after normalisation")
    if by_character:
        out, ref_units, hyp_units = jiwer.process_characters(ref, hyp), list(ref), list(hyp)
        rate = out.cer
    else:
        out, ref_units, hyp_units = jiwer.process_words(ref, hyp), ref.split(), hyp.split()
        rate = out.wer
    chunks = [{"type": c.type, "ref": ref_units[c.ref_start_idx:c.ref_end_idx],
               "hyp": hyp_units[c.hyp_start_idx:c.hyp_end_idx]} for c in out.alignments[0]]
    return WordErrorResult(
        rate=float(rate), substitutions=out.substitutions, deletions=out.deletions, insertions=out.insertions,
        hits=out.hits, reference=ref, hypothesis=hyp, alignment=chunks,
        alignment_text=_alignment_text(out),
    )


def _alignment_text(out: jiwer.WordOutput | jiwer.CharacterOutput) -> str:
    """jiwer's REF/HYP/markers block without its "=== SENTENCE 1 ===" header."""
    text = jiwer.visualize_alignment(out, show_measures=False, skip_correct=False)
    return "\n".join(line for line in text.splitlines() if not line.startswith("=== SENTENCE")).strip("\n")
