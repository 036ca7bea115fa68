"""WER/CER with jiwer after Whisper English normalisation: known cases, corpus counts, normaliser table."""

from __future__ import annotations

import pytest

from eval.metrics.wer import EmptyReferenceError, char_error, word_error
from eval.normalize import normalize_text

# (reference, hypothesis, WER, (substitutions, deletions, insertions))
WER_CASES = [
    ("the cat sat on the mat", "the cat sit on the the mat", 2 / 6, (1, 0, 1)),
    ("the cat sat on the mat", "the cat sat on the mat", 0.0, (0, 0, 0)),
    ("hello world", "", 1.0, (0, 2, 0)),
    ("a b c d", "a x c", 0.5, (1, 1, 0)),
    ("red blue", "red blue green pink", 1.0, (0, 0, 2)),
    ("Mr. Smith paid $20 for colour prints", "mister smith paid twenty dollars for color prints", 0.0, (0, 0, 0)),
    ("Hello, World!", "hello world", 0.0, (0, 0, 0)),
    ("I can't go.", "I cannot go", 0.5, (1, 1, 0)),  # "can not" vs "cannot": a substitution and a deletion
    ("Hello... world", "hello world", 0.0, (0, 0, 0)),  # no stray "." word from the ellipsis
]


@pytest.mark.parametrize(("ref", "hyp", "wer", "counts"), WER_CASES)
def test_word_error_known_cases(ref: str, hyp: str, wer: float, counts: tuple[int, int, int]) -> None:
    result = word_error(ref, hyp)
    assert result.rate == pytest.approx(wer)
    assert (result.substitutions, result.deletions, result.insertions) == counts
    assert result.errors == sum(counts)
    assert result.ref_units == len(result.reference.split())


def test_alignment_is_kept_for_reports() -> None:
    result = word_error("the cat sat on the mat", "the cat sit on the the mat")
    assert result.alignment == [
        {"type": "equal", "ref": ["the", "cat"], "hyp": ["the", "cat"]},
        {"type": "substitute", "ref": ["sat"], "hyp": ["sit"]},
        {"type": "equal", "ref": ["on"], "hyp": ["on"]},
        {"type": "insert", "ref": [], "hyp": ["the"]},
        {"type": "equal", "ref": ["the", "mat"], "hyp": ["the", "mat"]},
    ]
    assert result.alignment_text.splitlines()[:2] == ["REF: the cat sat on *** the mat",
                                                      "HYP: the cat sit on the the mat"]


def test_corpus_wer_is_total_errors_over_total_reference_words() -> None:
    pairs = [("the cat sat on the mat", "the cat sit on the the mat"), ("hello world", "hello world"),
             ("a b c d", "a x c")]
    results = [word_error(r, h) for r, h in pairs]
    corpus = sum(r.errors for r in results) / sum(r.ref_units for r in results)
    assert corpus == pytest.approx((2 + 0 + 2) / (6 + 2 + 4))
    assert sum(r.rate for r in results) / 3 == pytest.approx((1 / 3 + 0 + 0.5) / 3)  # the mean differs


@pytest.mark.parametrize(("ref", "hyp", "cer"), [
    ("the cat", "the bat", 1 / 7),
    ("The cat.", "the cat", 0.0),
    ("abc", "", 1.0),
])
def test_char_error_known_cases(ref: str, hyp: str, cer: float) -> None:
    assert char_error(ref, hyp).rate == pytest.approx(cer)


@pytest.mark.parametrize("ref", ["", "   ", "uh, um..."])
def test_empty_reference_is_an_error_not_a_rate(ref: str) -> None:
    with pytest.raises(EmptyReferenceError, match="no words after normalisation"):
        word_error(ref, "something")


@pytest.mark.parametrize(("written", "spoken"), [
    ("Mr. Smith paid $20 for colour prints", "mister smith paid twenty dollars for color prints"),
    ("Dr. Jones lives on St. Mary's road", "doctor jones lives on saint mary's road"),
    ("Twenty-five percent", "25%"),
    ("It's 1999.", "it is nineteen ninety-nine"),
    ("I'll organise the centre", "I will organize the center"),
    ("Hello,   World!", "hello world"),
    ("um, I can't go", "I can not go"),
    ("three point five", "3.5"),
    ("Café naïve", "cafe naive"),
])
def test_normaliser_maps_written_and_spoken_forms_to_the_same_words(written: str, spoken: str) -> None:
    assert normalize_text(written) == normalize_text(spoken)


@pytest.mark.parametrize(("text", "expected"), [
    ("Mr. Smith paid $20 for colour prints", "mister smith paid $20 for color prints"),
    ("Hello, World!", "hello world"),
    ("He said \"hi\" [laughs]", "he said hi"),
    ("  ", ""),
    ("Hello...", "hello"),
    ("um... yes", "yes"),
])
def test_normaliser_output(text: str, expected: str) -> None:
    assert normalize_text(text) == expected
