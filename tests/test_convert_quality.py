"""The embedded converter really converts: identity moves toward the target, the words survive.

Ordered pairs of four fixture speakers (12 conversions), split as in
benchmarks/convert_quality.py: the target's conversion reference and the
prompt it is scored against are different utterances, and the source sentence
is in neither. Scored with the embedded GE2E speaker encoder and Whisper base.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import convert_quality

pytestmark = pytest.mark.slow

SPEAKERS = ("joe", "slt", "rms", "awb")  # the first four speakers of the fixture manifest


@pytest.fixture(scope="module")
def scores() -> dict[str, float]:
    groups = convert_quality.load_set(convert_quality.FIXTURES)
    rows = convert_quality.evaluate({s: groups[s] for s in SPEAKERS}, "world-knn", quality=False)
    assert len(rows) == 12
    return convert_quality.summary(rows)


def test_world_knn_moves_identity_toward_the_target(scores: dict[str, float]) -> None:
    assert scores["lift"] >= 0.15


def test_world_knn_keeps_the_words(scores: dict[str, float]) -> None:
    assert scores["wer_output"] <= scores["wer_source"] + 0.15
