"""Listening votes under concurrent load and a kill -9 of the real app server (app.py over HTTP).

Smaller than ``benchmarks/listening_load.py`` (50 raters x 40 votes) to keep CI
fast; the same code runs both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import listening_load as bench  # noqa: E402 (the benchmark's app-server runner)


@pytest.mark.slow
def test_concurrent_raters_store_every_vote_exactly_once(tmp_path: Path) -> None:
    result = bench.run_load(raters=20, votes=12, workdir=tmp_path, n_utterances=6)
    assert result["n_errors"] == 0, result["errors"]
    assert result["acked"] == result["stored_votes"] == result["distinct_votes"] == 240
    assert result["acked_missing"] == 0
    assert result["integrity"] == "ok"
    assert result["latency_ms"]["vote"]["n"] == 240


@pytest.mark.slow
def test_kill_9_mid_load_loses_no_acknowledged_vote(tmp_path: Path) -> None:
    result = bench.run_load(raters=16, votes=12, workdir=tmp_path, kill_after=60, n_utterances=6)
    assert result["killed_after_acked"] >= 60
    assert result["integrity_after_kill"] == "ok"
    assert result["acked_missing_after_kill"] == 0  # every "saved" answer before the kill is on disk
    assert result["stored_at_kill"] < 16 * 12  # the kill really happened mid-load
    # after the restart the raters resumed (retrying unacknowledged votes): exact totals, no duplicates
    assert result["stored_votes"] == result["distinct_votes"] == 16 * 12
    assert result["acked_missing"] == 0 and result["n_errors"] == 0, result["errors"]
    assert result["integrity"] == "ok"
