"""Load and durability of listening tests against the real app server, over HTTP.

Starts ``app.py`` on a free port with a temporary database, creates an A/B
test from the fixture speech, and lets N simulated raters (threads, one
httpx client each) vote concurrently: register, fetch the next item, report
both clips played, vote.
Afterwards it checks the database holds exactly raters x votes votes with no
duplicates and that every acknowledged ("saved") vote is there, and prints
latency percentiles. With ``--kill-after K`` it kills the server with SIGKILL
after K acknowledged votes, checks the database, restarts the server and lets
the raters resume (retrying unacknowledged votes, which are idempotent).

    .venv/bin/python benchmarks/listening_load.py --raters 50 --votes 40
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SPEECH = REPO / "tests" / "fixtures" / "speech"
SYSTEMS = ("sys_a", "sys_b", "sys_c")


def free_port() -> int:
    """An unused local TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python app.py`` as a subprocess on ``port`` with the listening database at ``db_url``."""

    def __init__(self, db_url: str, port: int, log_path: Path) -> None:
        self.db_url, self.port, self.log_path, self.process = db_url, port, log_path, None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        env = {**os.environ, "PORT": str(self.port), "HOST": "127.0.0.1", "VOICELAB_LISTENING_DB": self.db_url}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.base + "/listen/t/ready-check", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise TimeoutError(f"app.py did not answer within {timeout} s; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc; NaN elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, AttributeError):
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def create_fixture_test(db_url: str, votes_per_rater: int, n_utterances: int = 24):
    """An A/B test over 3 systems (fixture speech) where every rater gets exactly ``votes_per_rater`` items."""
    from eval.listening import builder, sources
    from eval.listening.database import open_database

    with (SPEECH / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))[:n_utterances]
    stimuli = [sources.Stimulus(r["id"], system, SPEECH / r["audio"]) for r in rows for system in SYSTEMS]
    n_items = len(rows) * 3
    n_attention = 2 * builder._attention_count(n_items)
    return builder.create_test(open_database(db_url), stimuli, "ab", "Which sounds more natural?",
                               items_per_rater=votes_per_rater - n_attention, source={"benchmark": "listening_load"},
                               seed=0)


@dataclass
class Tally:
    """What the simulated raters saw (shared between threads, guarded by ``lock``)."""

    acked: list[tuple[str, str, str]] = field(default_factory=list)  # (rater id, assignment key, choice)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"next": [], "played": [], "vote": []})
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _retrying(client: httpx.Client, method: str, url: str, deadline: float, **kwargs) -> httpx.Response:
    """Send until a response arrives (the server may be restarting); responses are returned as they are."""
    while True:
        try:
            return client.request(method, url, **kwargs)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def simulate_rater(base: str, test_id: str, tally: Tally, seed: int, deadline: float, think_s: float = 0.0) -> None:
    """One rater voting through their whole assignment (blind: choices are random A or B).

    ``think_s`` seconds pass between fetching an item and voting (0: a closed loop as fast as the server allows).
    """
    rng = np.random.default_rng(seed)
    api = f"{base}/listen/api/t/{test_id}"
    with httpx.Client(timeout=30) as client:
        rater = _retrying(client, "POST", api + "/raters", deadline).json()
        headers = {"X-Rater-Id": rater["rater_id"], "X-Rater-Secret": rater["secret"]}
        while True:
            t0 = time.perf_counter()
            state = _retrying(client, "GET", api + "/next", deadline, headers=headers).json()
            t1 = time.perf_counter()
            item = state["item"]
            if item is None:
                break
            for slot in item["slots"]:
                t2 = time.perf_counter()
                _retrying(client, "POST", api + "/played", deadline, headers=headers,
                          json={"key": item["key"], "slot": slot}).raise_for_status()
                with tally.lock:
                    tally.latencies["played"].append(time.perf_counter() - t2)
            choice = "A" if rng.random() < 0.5 else "B"
            time.sleep(think_s * rng.uniform(0.5, 1.5))
            t3 = time.perf_counter()
            response = _retrying(client, "POST", api + "/vote", deadline, headers=headers,
                                 json={"key": item["key"], "choice": choice, "latency_ms": 1000.0})
            t4 = time.perf_counter()
            with tally.lock:
                tally.latencies["next"].append(t1 - t0)
                tally.latencies["vote"].append(t4 - t3)
                if response.status_code == 200 and response.json().get("saved"):
                    tally.acked.append((rater["rater_id"], item["key"], choice))
                else:
                    tally.errors.append(f"{response.status_code} {response.text[:200]}")


def stored_votes(db_path: Path) -> list[tuple[str, str, str]]:
    """(rater id, assignment key, choice) of every stored vote, read with plain sqlite3."""
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT v.rater_id, a.key, v.choice FROM listening_votes v "
                            "JOIN listening_assignments a ON a.id = v.assignment_id").fetchall()


def integrity(db_path: Path) -> str:
    """SQLite's own integrity check of the database file."""
    with sqlite3.connect(db_path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    if not seconds:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan}
    ms = np.asarray(seconds) * 1000
    return {"n": len(ms), "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "max": float(ms.max())}


def run_load(raters: int, votes: int, workdir: Path, kill_after: int | None = None, n_utterances: int = 24,
             think_s: float = 0.0) -> dict:
    """Run the whole scenario; returns counts, checks and latency percentiles."""
    db_path = workdir / "listening.db"
    db_url = f"sqlite:///{db_path}"
    created = create_fixture_test(db_url, votes, n_utterances)
    server = Server(db_url, free_port(), workdir / "server.log")
    server.start()
    cpu_at_start = server.cpu_seconds()
    tally, deadline = Tally(), time.monotonic() + 600
    threads = [threading.Thread(target=simulate_rater, args=(server.base, created.test_id, tally, seed, deadline,
                                                             think_s)) for seed in range(raters)]
    started = time.perf_counter()
    result: dict = {"raters": raters, "votes_per_rater": votes, "expected_votes": raters * votes, "think_s": think_s}
    try:
        for thread in threads:
            thread.start()
        if kill_after is not None:
            while len(tally.acked) < kill_after and any(t.is_alive() for t in threads):
                time.sleep(0.005)
            cpu_before_kill = server.cpu_seconds() - cpu_at_start
            server.kill()
            with tally.lock:
                acked_before_kill = list(tally.acked)
            stored = set(stored_votes(db_path))
            result.update(killed_after_acked=len(acked_before_kill), stored_at_kill=len(stored),
                          acked_missing_after_kill=len(set(acked_before_kill) - stored),
                          integrity_after_kill=integrity(db_path))
            server.start()
            cpu_at_start = server.cpu_seconds() - cpu_before_kill
        for thread in threads:
            thread.join()
        result["server_cpu_s"] = server.cpu_seconds() - cpu_at_start
    finally:
        server.stop()
    stored_list = stored_votes(db_path)
    result.update(seconds=time.perf_counter() - started, stored_votes=len(stored_list),
                  distinct_votes=len({(r, k) for r, k, _ in stored_list}), acked=len(tally.acked),
                  acked_missing=len(set(tally.acked) - set(stored_list)), errors=tally.errors[:5],
                  n_errors=len(tally.errors), integrity=integrity(db_path), test_id=created.test_id,
                  owner_token=created.owner_token, db_url=db_url,
                  latency_ms={name: percentiles(values) for name, values in tally.latencies.items()})
    return result


def print_table(result: dict) -> None:
    """Human-readable summary (stdout)."""
    print(f"raters={result['raters']} votes/rater={result['votes_per_rater']} think={result['think_s']}s "
          f"expected={result['expected_votes']} "
          f"stored={result['stored_votes']} distinct={result['distinct_votes']} acked={result['acked']} "
          f"acked-but-missing={result['acked_missing']} errors={result['n_errors']} "
          f"integrity={result['integrity']} wall={result['seconds']:.1f}s "
          f"server CPU={result['server_cpu_s']:.1f}s ({1000 * result['server_cpu_s'] / result['expected_votes']:.1f} ms"
          " per vote incl. its next + 2 played requests)")
    if "killed_after_acked" in result:
        print(f"kill -9 after {result['killed_after_acked']} acked votes: stored at kill={result['stored_at_kill']}, "
              f"acked missing={result['acked_missing_after_kill']}, integrity={result['integrity_after_kill']}")
    print(f"{'request':<8} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, p in result["latency_ms"].items():
        print(f"{name:<8} {p['n']:>6} {p['p50']:>8.1f} {p['p95']:>8.1f} {p['p99']:>8.1f} {p['max']:>8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--votes", type=int, default=40)
    parser.add_argument("--kill-after", type=int, help="SIGKILL the server after this many acknowledged votes")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a rater listens and decides before each vote (default 0: closed loop)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="listening-load-") as tmp:
        os.environ["VOICELAB_LISTENING_DB"] = f"sqlite:///{Path(tmp) / 'listening.db'}"
        result = run_load(args.raters, args.votes, Path(tmp), args.kill_after, think_s=args.think)
    print_table(result)
    if args.json:
        print(json.dumps(result, indent=1))
    ok = (result["stored_votes"] == result["distinct_votes"] == result["expected_votes"] and not result["acked_missing"]
          and result["integrity"] == "ok" and not result["n_errors"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
