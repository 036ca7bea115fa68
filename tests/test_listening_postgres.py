"""The same listening store on PostgreSQL (psycopg 3): concurrent and duplicate votes, analysis.

Starts a throw-away PostgreSQL cluster from the locally installed server
binaries (as the ``postgres`` user when the tests run as root); skipped with a
reason when no PostgreSQL server binaries are installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.listening import builder, rating, report, sources

SPEECH = Path(__file__).parent / "fixtures" / "speech"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture
def postgres_url() -> Iterator[str]:
    initdb = shutil.which("initdb") or str(PG_BIN / "initdb")
    if not Path(initdb).exists():
        pytest.skip("no PostgreSQL server binaries installed (initdb)")
    # pytest's tmp_path is private to root; the postgres user needs a folder of its own
    with tempfile.TemporaryDirectory(prefix="voicelab-pg-") as folder:
        os.chmod(folder, 0o755)
        yield from _cluster(initdb, Path(folder) / "pgdata")


def _cluster(initdb: str, data: Path) -> Iterator[str]:
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"]), check=True,
                   capture_output=True)
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                                 f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)


def test_concurrent_and_duplicate_votes_on_postgres(postgres_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from eval.listening.database import open_database

    monkeypatch.setenv("VOICELAB_LISTENING_AUDIO", str(tmp_path / "audio"))
    db = open_database(postgres_url)
    stimuli = [sources.Stimulus(u, s, SPEECH / f"{u}.flac") for u in ("joe_00", "slt_00", "awb_01") for s in "xy"]
    created = builder.create_test(db, stimuli, "ab", "Which is better?", seed=0)
    raters = [rating.register_rater(db, created.test_id) for _ in range(8)]
    outcomes: list[str] = []

    def vote_all(rater_id: str, secret: str) -> None:
        while (item := rating.next_item(db, created.test_id, rater_id, secret)["item"]) is not None:
            for slot in item["slots"]:
                rating.record_play(db, created.test_id, rater_id, secret, item["key"], slot)
            twins = [threading.Thread(target=lambda: outcomes.append(rating.cast_vote(
                db, created.test_id, rater_id, secret, item["key"], choice="A").status)) for _ in range(2)]
            for t in twins:  # the same vote sent twice at once (a double click, a retry)
                t.start()
            for t in twins:
                t.join()

    threads = [threading.Thread(target=vote_all, args=creds) for creds in raters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_rater = created.n_items + created.n_attention
    assert sorted(set(outcomes)) == ["saved", "unchanged"] and outcomes.count("saved") == 8 * per_rater
    result = report.analyse_test(db, created.test_id)
    assert result["test"]["votes"] == 8 * per_rater
    assert sum(p["votes"] for p in result["pairs"]) == 8 * created.n_items
    assert db.integrity_check() == "n/a"
