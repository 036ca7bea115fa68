"""Live-session resampling: lab.stream_resample against soxr's streaming resampler (the baseline).

A browser that cannot capture at the converter's 16 kHz (Firefox) streams at its
device rate, and the session resamples both ways in 20 ms chunks. Per rate and
direction: the audio each resampler withholds (adds to the algorithmic latency)
and its compute per chunk (median and p95 over ``--chunks`` chunks, ``--runs``
runs; the median run is shown). Run: ``.venv/bin/python benchmarks/stream_resample.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.stream_resample import LowDelayResampler

CONVERTER_RATE = 16_000
CHUNK_S = 0.02


def soxr_stream(from_rate: int, to_rate: int) -> soxr.ResampleStream:
    """The baseline: soxr's streaming resampler at the medium quality the sessions used."""
    return soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality="MQ")


def measure(make, from_rate: int, to_rate: int, chunks: int) -> tuple[float, float, float]:
    """(withheld ms, median ms per chunk, p95 ms per chunk) of one stream of ``chunks`` noise chunks."""
    resampler, n = make(from_rate, to_rate), round(from_rate * CHUNK_S)
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    times, produced = [], 0
    for _ in range(chunks):
        start = time.perf_counter()
        produced += len(resampler.resample_chunk(x))
        times.append(1000 * (time.perf_counter() - start))
    withheld = 1000 * (chunks * n / from_rate - produced / to_rate)
    return withheld, statistics.median(times), float(np.percentile(times, 95))


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{'rate':>6} {'dir':>4} | {'soxr MQ withheld':>16} {'p50':>6} {'p95':>6} | "
          f"{'ours withheld':>13} {'p50':>6} {'p95':>6} | {'latency saved':>13}")
    for rate in (22050, 32000, 44100, 48000):
        for direction, (a, b) in (("in", (rate, CONVERTER_RATE)), ("out", (CONVERTER_RATE, rate))):
            rows = {}
            for name, make in (("soxr", soxr_stream), ("ours", LowDelayResampler)):
                runs = sorted((measure(make, a, b, args.chunks) for _ in range(args.runs)), key=lambda r: r[1])
                rows[name] = runs[len(runs) // 2]
            s, o = rows["soxr"], rows["ours"]
            print(f"{rate:>6} {direction:>4} | {s[0]:13.1f} ms {s[1]:6.3f} {s[2]:6.3f} | "
                  f"{o[0]:10.1f} ms {o[1]:6.3f} {o[2]:6.3f} | {s[0] - o[0]:10.1f} ms")


if __name__ == "__main__":
    main()
