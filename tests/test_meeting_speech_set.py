"""The real-speech set builder keeps one speaker at a time and cuts long turns at pauses."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import meeting_speech_set as mss

RATE = 16000

SOLO_CASES = [
    # (turns, expected solo parts)
    ([("a", 0.0, 4.0, "X")], [("a", 0.0, 4.0, "X")]),
    ([("a", 0.0, 4.0, "X"), ("a", 1.0, 2.0, "Y")], [("a", 2.0, 4.0, "X")]),  # 0-1 s is too short to keep
    ([("a", 0.0, 6.0, "X"), ("a", 2.0, 3.0, "Y")], [("a", 0.0, 2.0, "X"), ("a", 3.0, 6.0, "X")]),
    ([("a", 0.0, 4.0, "X"), ("b", 1.0, 2.0, "Y")], [("a", 0.0, 4.0, "X")]),  # another recording does not overlap
    ([("a", 0.0, 3.0, "X"), ("a", 2.0, 5.0, "X")], [("a", 0.0, 3.0, "X"), ("a", 2.0, 5.0, "X")]),  # same speaker
    ([("a", 0.0, 3.0, "X"), ("a", 0.5, 2.9, "Y")], []),  # nothing solo is long enough
]


@pytest.mark.parametrize(("turns", "expected"), SOLO_CASES)
def test_solo_turns_drop_overlapped_speech(turns: list, expected: list) -> None:
    assert [t for t in mss.solo_turns(turns) if t[3] == "X"] == expected


def test_long_speech_is_cut_at_its_pauses() -> None:
    rng = np.random.default_rng(0)
    speech = rng.standard_normal(14 * RATE).astype(np.float32) * 0.1
    for pause_s in (4.5, 9.0):  # 100 ms of silence where the cuts belong
        speech[int(pause_s * RATE):int((pause_s + 0.1) * RATE)] = 0.0
    pieces = mss.split_at_pauses(speech, RATE)
    lengths = [len(p) / RATE for p in pieces]
    assert sum(len(p) for p in pieces) == len(speech)
    assert lengths[0] == pytest.approx(4.55, abs=0.06) and lengths[1] == pytest.approx(4.5, abs=0.06)
    assert all(mss.MIN_SECONDS <= n <= mss.MAX_SECONDS for n in lengths)


def test_a_short_tail_is_dropped() -> None:
    speech = np.ones(int(7.0 * RATE), dtype=np.float32)
    speech[int(5.9 * RATE):int(6.0 * RATE)] = 0.0
    pieces = mss.split_at_pauses(speech, RATE)
    assert len(pieces) == 1 and len(pieces[0]) / RATE == pytest.approx(5.95, abs=0.06)


def test_accented_names_match_their_turns() -> None:
    assert mss.ascii_name("trñ00") == "trn00" and mss.ascii_name("MÉO069") == "MEO069"


def test_a_different_download_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "pyannote_audio-4.0.7.tar.gz"
    fake.write_bytes(b"not the sdist")
    with pytest.raises(ValueError, match="SHA-256"):
        mss.read_clips(fake)
