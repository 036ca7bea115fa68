"""Throughput of `python -m eval run --workers 2` against a naive one-utterance-at-a-time loop.

Builds 100 utterances of 3-6 s from the fixture speech (two systems of 50
paired utterances: light and heavy noise, the heavy one also delayed), each
with a same-content reference, a speaker prompt and the expected text, then
scores every metric two ways in the same run:

* naive: one Scorer in this process, default threads, a plain loop calling
  lab.audio.load + Scorer.score per utterance;
* batch: the `python -m eval run MANIFEST --out DIR --workers N` command
  (a subprocess: interpreter start, worker start-up, model loads and report
  writing all count).

Both include model loading. A third, single run of the naive loop with every
math library at 1 thread (the workers' setting) shows what threading alone buys.
The metric values must agree: WER/CER (the transcripts) and PESQ bit for bit;
STOI/ESTOI, speaker_sim and DNSMOS up to last-bit rounding noise, which numpy's
SIMD reductions, torch's LSTM and onnxruntime's kernels produce with other
thread counts (float64: 1e-12, float32 model outputs: 1e-6).
Run: ``.venv/bin/python benchmarks/eval_throughput.py [--repeats 3] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval.metrics import MetricInputs, Scorer  # noqa: E402
from lab import audio  # noqa: E402

SPEECH = REPO / "tests" / "fixtures" / "speech"
RATE = 16000
GAP_S = 0.2
# numpy's SIMD reductions (STOI/ESTOI), torch's threaded LSTM (speaker_sim) and onnxruntime's threaded
# kernels (DNSMOS) round the last bit differently with other thread counts; anything larger than this
# is a real difference and fails the benchmark. WER/CER (transcripts) and PESQ must match exactly.
FLOAT64_NOISE = 1e-12
FLOAT32_NOISE = 1e-6  # a few float32 ulps at values up to 5 (MOS)
FLOAT32_METRICS = ("speaker_sim", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808")


def build_batch(folder: Path, n_utterances: int = 100, seed: int = 0) -> Path:
    """Write WAVs and manifest.csv for ``n_utterances`` rows (half per system) into ``folder``."""
    with (SPEECH / "manifest.csv").open() as f:
        clips = [dict(r, audio=audio.load(SPEECH / r["audio"]).resample(RATE)) for r in csv.DictReader(f)]
    by_speaker: dict[str, list[dict]] = {}
    for clip in clips:
        by_speaker.setdefault(clip["speaker"], []).append(clip)
    rng = np.random.default_rng(seed)
    lines = [["id", "system", "audio", "reference", "prompt", "text"]]
    for k in range(n_utterances // 2):
        speaker = sorted(by_speaker)[k % len(by_speaker)]
        own = by_speaker[speaker]
        clean, text, prompt = _compose(own, k, float(rng.uniform(3.0, 6.0)), rng)
        uid = f"utt{k:03d}"
        audio.save(clean, folder / f"{uid}_ref.wav")
        audio.save(prompt, folder / f"{uid}_prompt.wav")
        for system, snr_db, delay_s in (("light", rng.uniform(20, 30), 0.0), ("heavy", rng.uniform(5, 15),
                                                                             rng.uniform(0.0, 0.04))):
            audio.save(_degrade(clean, snr_db, delay_s, rng), folder / f"{uid}_{system}.wav")
            lines.append([uid, system, f"{uid}_{system}.wav", f"{uid}_ref.wav", f"{uid}_prompt.wav", text])
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as f:
        csv.writer(f).writerows(lines)
    return manifest


def _compose(own: list[dict], k: int, target_s: float, rng: np.random.Generator) -> tuple:
    """One or two clips of a speaker (silence-padded) lasting about ``target_s`` s, their text, and a prompt clip."""
    first = own[k % len(own)]
    parts, texts = [first["audio"].samples], [first["text"]]
    rest = [c for c in own if c is not first]
    second = next((c for c in rest if first["audio"].duration + GAP_S + c["audio"].duration <= target_s), None)
    if second is not None:
        parts += [np.zeros(int(GAP_S * RATE), np.float32), second["audio"].samples]
        texts.append(second["text"])
    length = sum(len(p) for p in parts)
    pad = max(int(target_s * RATE) - length, 0)
    lead = int(rng.uniform(0.1, 0.9) * pad)
    samples = np.concatenate([np.zeros(lead, np.float32), *parts, np.zeros(pad - lead, np.float32)])
    prompt = next(c for c in rest if c is not second)["audio"]
    return audio.Audio(samples, RATE), " ".join(texts), prompt


def _degrade(clean: audio.Audio, snr_db: float, delay_s: float, rng: np.random.Generator) -> audio.Audio:
    x = np.concatenate([np.zeros(int(delay_s * RATE), np.float32), clean.samples])
    noise = rng.standard_normal(len(x)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean.samples**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    y = x + noise
    return audio.Audio((y / max(1.0, float(np.max(np.abs(y))) / 0.99)).astype(np.float32), RATE)


def naive_loop(manifest: Path) -> tuple[float, float, dict]:
    """(wall s, CPU s, values) of one Scorer scoring every row in a plain loop (model loads included)."""
    with manifest.open() as f:
        rows = list(csv.DictReader(f))
    start, cpu = time.perf_counter(), time.process_time()
    scorer = Scorer()
    values = {}
    for row in rows:
        folder = manifest.parent
        inputs = MetricInputs(audio.load(folder / row["audio"]), audio.load(folder / row["reference"]),
                              audio.load(folder / row["prompt"]), row["text"])
        for name, result in scorer.score(inputs).items():
            values[(row["system"], row["id"], name)] = result.value
    return time.perf_counter() - start, time.process_time() - cpu, values


def batch_run(manifest: Path, out: Path, workers: int) -> tuple[float, float, float, dict]:
    """(command wall s, scoring s reported by the run, CPU s of the command and its workers, values)."""
    command = [sys.executable, "-m", "eval", "run", str(manifest), "--out", str(out), "--workers", str(workers),
               "--no-progress"]
    start, before = time.perf_counter(), _children_cpu()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - before
    if proc.returncode != 0:
        raise SystemExit(f"eval run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    scoring = float(re.search(r"scored in ([\d.]+) s", proc.stderr).group(1))
    values = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("error"):
            raise SystemExit(f"row {row['id']} failed: {row['error']}")
        for name, entry in row["metrics"].items():
            values[(row["system"], row["id"], name)] = math.nan if entry["value"] is None else entry["value"]
    return wall, scoring, cpu, values


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # includes the workers the command waited for
    return usage.ru_utime + usage.ru_stime


def naive_loop_one_thread(manifest: Path) -> tuple[float, float, dict]:
    """The naive loop in a fresh process with every math library at 1 thread (the workers' setting)."""
    env = dict(os.environ, **{v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    out = manifest.parent / "naive_1thread.json"
    subprocess.run([sys.executable, __file__, "--naive-only", str(manifest), str(out)], env=env, check=True,
                   capture_output=True)
    data = json.loads(out.read_text())
    values = {tuple(k.split("\t")): math.nan if v is None else v for k, v in data["values"].items()}
    return data["seconds"], data["cpu"], values


def compare(a: dict, b: dict) -> dict[str, tuple[int, float]]:
    """{metric: (number of differing values, largest absolute difference)}; NaN equals NaN."""
    if a.keys() != b.keys():
        raise SystemExit(f"different (system, id, metric) keys: {sorted(a.keys() ^ b.keys())[:5]}")
    out: dict[str, tuple[int, float]] = {}
    for key in a:
        same = a[key] == b[key] or (math.isnan(a[key]) and math.isnan(b[key]))
        count, worst = out.get(key[2], (0, 0.0))
        out[key[2]] = (count + (not same), worst if same else max(worst, abs(a[key] - b[key])))
    return out


def describe(diffs: dict[str, tuple[int, float]]) -> str:
    """Which metrics are bit-identical, which differ and by how much (and whether beyond rounding noise)."""
    bad = {m: d for m, d in diffs.items() if d[0]}
    same = f"{len(diffs) - len(bad)} of {len(diffs)} metrics bit-identical"
    return same + "".join(f"; {m}: {n} differ by <= {worst:.1e}{'' if worst <= _noise(m) else ' (REAL DIFFERENCE)'}"
                          for m, (n, worst) in bad.items())


def _noise(metric: str) -> float:
    """Last-bit rounding noise of a metric: float32 model outputs vs float64 signal processing."""
    return FLOAT32_NOISE if metric in FLOAT32_METRICS else FLOAT64_NOISE


def within_noise(diffs: dict[str, tuple[int, float]]) -> bool:
    """True when every difference is last-bit rounding noise (transcripts and PESQ must be exact)."""
    return all(worst <= _noise(metric) for metric, (_, worst) in diffs.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each method (median reported)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--skip-one-thread", action="store_true", help="skip the 1-thread naive loop run")
    parser.add_argument("--naive-only", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_only:
        seconds, cpu, values = naive_loop(args.naive_only[0])
        args.naive_only[1].write_text(json.dumps({"seconds": seconds, "cpu": cpu, "values": {
            "\t".join(k): None if math.isnan(v) else v for k, v in values.items()}}))
        return 0
    with tempfile.TemporaryDirectory(prefix="eval_throughput_") as tmp:
        folder = Path(tmp)
        manifest = build_batch(folder, args.utterances)
        durations = [audio.load(p).duration for p in folder.glob("*_light.wav")]
        n = args.utterances
        print(f"{n} utterances, {min(durations):.1f}-{max(durations):.1f} s (mean {np.mean(durations):.1f} s), "
              f"all metrics, eval run --workers {args.workers} vs naive loop, {args.repeats} repeats, "
              f"load average before start {os.getloadavg()[0]:.1f}")
        naive_s, batch_s, scoring_s, naive_cpu, batch_cpu = [], [], [], [], []
        for rep in range(args.repeats):  # alternate the order so shared-machine load hits both alike
            for method in (("naive", "batch") if rep % 2 == 0 else ("batch", "naive")):
                if method == "naive":
                    seconds, cpu, naive_values = naive_loop(manifest)
                    naive_s.append(seconds)
                    naive_cpu.append(cpu)
                else:
                    wall, scoring, cpu, batch_values = batch_run(manifest, folder / f"out{rep}", args.workers)
                    batch_s.append(wall)
                    batch_cpu.append(cpu)
                    scoring_s.append(scoring)
            print(f"  run {rep + 1}: naive {naive_s[-1]:.1f} s, eval run {batch_s[-1]:.1f} s "
                  f"(scoring {scoring_s[-1]:.1f} s), load {os.getloadavg()[0]:.1f}; values vs naive: "
                  f"{describe(compare(naive_values, batch_values))}")
        one_thread_s, one_thread_cpu, one_thread_values = (
            (math.nan, math.nan, batch_values) if args.skip_one_thread else naive_loop_one_thread(manifest))
        naive, batch, scoring = (statistics.median(x) for x in (naive_s, batch_s, scoring_s))
        cpu_naive, cpu_batch = statistics.median(naive_cpu), statistics.median(batch_cpu)
        print("\n| method | median wall s | utt/s | vs naive | CPU s (all threads/processes) |\n|---|---|---|---|---|\n"
              f"| naive loop (1 Scorer, default threads) | {naive:.1f} | {n / naive:.2f} | 1.00x | {cpu_naive:.0f} |\n"
              + ("" if args.skip_one_thread else
                 f"| naive loop, 1 thread (1 run) | {one_thread_s:.1f} | {n / one_thread_s:.2f} | "
                 f"{naive / one_thread_s:.2f}x | {one_thread_cpu:.0f} |\n") +
              f"| eval run --workers {args.workers} (whole command) | {batch:.1f} | {n / batch:.2f} | "
              f"{naive / batch:.2f}x | {cpu_batch:.0f} |\n"
              f"| eval run --workers {args.workers} (scoring only) | {scoring:.1f} | {n / scoring:.2f} | "
              f"{naive / scoring:.2f}x | |")
        pinned, default = compare(one_thread_values, batch_values), compare(naive_values, batch_values)
        if not args.skip_one_thread:
            print(f"\nvalues, eval run vs naive loop at 1 thread: {describe(pinned)}")
        print(f"values, eval run vs naive loop at default threads: {describe(default)}")
        return 0 if within_noise(pinned) and within_noise(default) else 1


if __name__ == "__main__":
    sys.exit(main())
