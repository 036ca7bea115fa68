"""Live-conversion latency and capacity per streaming converter and chunk size.

For every streaming converter that resolves here (world-knn always; hub ones
when their weights are local) and chunk sizes 10/20/40/80 ms:

* algorithmic latency (hop + lookahead + buffering) from lab.streaming;
* compute per hop, p50/p95, as wall time and as this thread's CPU time (the CPU
  figure is what the converter costs; wall time adds whatever else the machine
  is doing), medians over ``--runs`` streams of a 6 s fixture utterance;
* real-time factor (wall);
* sessions that fit: N sessions paced in real time in N threads (as the server
  runs them), N = 1, 2, ... until a session's p95 wall compute exceeds its hop
  or its hops finish late; the largest N that held is reported ("sessions"),
  next to the CPU-bound upper bound cores x hop / CPU p95 ("cpu-bound"), which
  is what an idle machine could hold if threads scaled perfectly.

Target for the embedded converter: algorithmic <= 60 ms and p95 <= 50 % of the chunk.
Run: ``.venv/bin/python benchmarks/live.py [--runs 3] [--max-sessions 8] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import audio, convert, models  # noqa: E402
from lab.streaming import StreamSession, stream_audio  # noqa: E402

SPEECH = REPO / "tests" / "fixtures" / "speech"
CHUNKS_MS = (10, 20, 40, 80)


def engines() -> list[str]:
    """Streaming converters whose weights are here (no downloads); file-only ones (offline_only) are left out."""
    here = [name for name, spec in models.SPECS.items()
            if spec.role == "convert" and models.resolve(name).location in ("embedded", "checkpoints", "hf-cache")]
    return [name for name in here if not getattr(models.load(name, allow_fallback=False).model, "offline_only", False)]


def source_audio() -> audio.Audio:
    """About 6 s of a male fixture speaker at 16 kHz."""
    parts = [audio.load(SPEECH / f"joe_0{i}.flac").resample(16000).samples for i in (0, 1)]
    return audio.Audio(np.concatenate(parts), 16000)


def single_stream(target: convert.Target, engine: str, chunk_ms: int, source: audio.Audio, runs: int) -> dict:
    """Median figures of ``runs`` streams of ``source`` through one session."""
    reports = []
    for _ in range(runs):
        converter = convert.streamer(target, engine=engine, chunk_ms=chunk_ms)
        session = StreamSession(converter, client_rate=source.sample_rate,
                                chunk_samples=source.sample_rate * chunk_ms // 1000)
        _, state = stream_audio(session, source)
        reports.append(session.report(state))
    keys = ("compute_p50_ms", "compute_p95_ms", "cpu_p50_ms", "cpu_p95_ms", "rtf", "cpu_rtf")
    return {**reports[0], **{k: statistics.median(r[k] for r in reports) for k in keys}}


def paced_sessions(target: convert.Target, engine: str, chunk_ms: int, source: audio.Audio, n: int,
                   seconds: float = 3.0) -> tuple[bool, float]:
    """Run ``n`` real-time-paced sessions at once; (all kept up, worst session's p95 wall ms)."""
    results: list[tuple[bool, float]] = []

    def one() -> None:
        converter = convert.streamer(target, engine=engine, chunk_ms=chunk_ms)
        session = StreamSession(converter, client_rate=source.sample_rate,
                                chunk_samples=source.sample_rate * chunk_ms // 1000)
        state, hop_s = session.initial_state(), chunk_ms / 1000
        x, n_hops, late = np.resize(source.samples, int(seconds * source.sample_rate)), int(seconds / hop_s), 0
        start = time.perf_counter()
        for i in range(n_hops):
            due = start + (i + 1) * hop_s  # chunk i has fully arrived at this time
            time.sleep(max(0.0, due - time.perf_counter()))
            _, state = session.step(x[i * session.chunk_samples : (i + 1) * session.chunk_samples], state)
            late += time.perf_counter() - due > hop_s  # its output is due one hop after arrival
        p95 = float(np.percentile(state.compute_s, 95)) * 1000
        results.append((late <= n_hops * 0.02 and p95 <= chunk_ms, p95))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return all(ok for ok, _ in results), max(p for _, p in results)


def sessions_that_fit(target: convert.Target, engine: str, chunk_ms: int, source: audio.Audio, limit: int) -> int:
    """Largest N <= limit for which N paced sessions all keep up."""
    fit = 0
    for n in range(1, limit + 1):
        ok, _ = paced_sessions(target, engine, chunk_ms, source, n)
        if not ok:
            break
        fit = n
    return fit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-sessions", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    source = source_audio()
    reference = audio.load(SPEECH / "slt_00.flac")
    rows = []
    for engine in engines():
        target = convert.prepare_target(reference, engine=engine)
        for chunk_ms in CHUNKS_MS:
            r = single_stream(target, engine, chunk_ms, source, args.runs)
            r["sessions_fit"] = sessions_that_fit(target, engine, chunk_ms, source, args.max_sessions)
            # what the cores could hold if this machine were idle (CPU-bound upper bound, GIL ignored)
            r["cpu_bound_sessions"] = int((os.cpu_count() or 1) * chunk_ms // r["cpu_p95_ms"])
            rows.append({**r, "engine": target.engine, "chunk_ms": chunk_ms})
    if args.json:
        print(json.dumps({"rows": rows}, default=float))
        return 0
    head = (f"{'engine':<14}{'chunk':>6}{'algo ms':>9}{'wall p50':>9}{'wall p95':>9}{'cpu p50':>9}{'cpu p95':>9}"
            f"{'p95/chunk':>10}{'cpu p95/chunk':>14}{'RTF':>6}{'sessions':>9}{'cpu-bound':>10}")
    print(head)
    for r in rows:
        print(f"{r['engine']:<14}{r['chunk_ms']:>6}{r['algorithmic_ms']:>9.1f}{r['compute_p50_ms']:>9.2f}"
              f"{r['compute_p95_ms']:>9.2f}{r['cpu_p50_ms']:>9.2f}{r['cpu_p95_ms']:>9.2f}"
              f"{r['compute_p95_ms'] / r['chunk_ms']:>10.0%}{r['cpu_p95_ms'] / r['chunk_ms']:>14.0%}{r['rtf']:>6.2f}"
              f"{r['sessions_fit']:>9}{r['cpu_bound_sessions']:>10}")
    print("target (embedded converter): algorithmic <= 60 ms, p95 <= 50% of the chunk; machine load during the run: "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])} (1/5/15-min load average, 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
