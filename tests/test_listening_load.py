"""Listening votes under concurrent load and a kill -9 of the real app server (app.py over HTTP).

Smaller than ``benchmarks/listening_load.py`` (50 raters x 40 votes, also run
with ``--kill-after``) to keep CI fast; the same code runs both. One scenario
covers both properties: concurrent votes stored exactly once, and no
acknowledged vote lost to a SIGKILL.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import listening_load as bench  # noqa: E402 (the benchmark's app-server runner)


@pytest.mark.slow
def test_concurrent_raters_through_a_kill_9_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """16 raters x 12 votes at once; the server is SIGKILLed after 60 acknowledged votes and restarted."""
    result = bench.run_load(raters=16, votes=12, workdir=tmp_path, kill_after=60, n_utterances=6)
    assert result["killed_after_acked"] >= 60
    assert result["integrity_after_kill"] == "ok"
    assert result["acked_missing_after_kill"] == 0  # every "saved" answer before the kill is on disk
    assert result["stored_at_kill"] < 16 * 12  # the kill really happened mid-load
    # after the restart the raters resumed (retrying unacknowledged votes): exact totals, no duplicates
    assert result["stored_votes"] == result["distinct_votes"] == 16 * 12
    assert result["acked_missing"] == 0 and result["n_errors"] == 0, result["errors"]
    assert result["integrity"] == "ok"
