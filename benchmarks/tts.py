"""TTS speed per engine: real-time factor, time to first audio, and lab.tts's overhead over the bare engine.

For every TTS/cloning engine that resolves here, a 3-sentence paragraph is
synthesised N times (after one warm-up that loads the model) two ways,
interleaved in alternating order so machine load hits both alike:

* direct: the engine's own ``stream()`` on the already-normalised text;
* ours: ``lab.tts.start(...)`` -> ``parts()`` -> ``result(check=False)``
  (text checks, normalisation, sentence splitting, timing, joining).

Medians of wall time and of CPU time (all threads; robust on a shared
machine) are printed as a table. Cloning engines use a fixture speaker as the
reference. Run: ``.venv/bin/python benchmarks/tts.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import audio, models, text, tts  # noqa: E402

PARAGRAPH = ("The museum opens at 9 a.m. on weekdays. Tickets cost $12, or $8 for students. "
             "Would you like to join the guided tour at noon?")
REFERENCE = REPO / "tests" / "fixtures" / "speech" / "slt_00.flac"


def engines() -> list[str]:
    """Registered TTS and cloning engines that resolve now."""
    return [name for name, spec in models.SPECS.items()
            if spec.role in ("tts", "clone") and models.resolve(name).location != "unavailable"]


def run_direct(engine: tts.TTSEngine, normalized: str, reference: audio.Audio | None,
               style: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all threads) calling the engine itself."""
    start, cpu = time.perf_counter(), time.process_time()
    voice = engine.prepare_voice(reference) if reference is not None else None
    for _ in engine.stream(normalized, voice, **style):
        pass
    return time.perf_counter() - start, time.process_time() - cpu


def run_ours(name: str, reference: audio.Audio | None, style: dict) -> tuple[float, float, float, float]:
    """(wall seconds, CPU seconds, seconds to first audio, audio seconds) through lab.tts."""
    start, cpu = time.perf_counter(), time.process_time()
    job = tts.start(PARAGRAPH, engine=name, voice=reference, **style)
    for _ in job.parts():
        pass
    result = job.result(check=False)
    return time.perf_counter() - start, time.process_time() - cpu, result.first_audio_seconds, result.audio.duration


def bench(name: str, runs: int) -> dict[str, float]:
    """Median timings of engine ``name`` over ``runs`` interleaved direct/ours runs."""
    loaded = models.load(name)
    engine = loaded.model
    reference = audio.load(REFERENCE) if engine.clones else None
    if reference is not None:
        from lab import reference as reference_io

        reference = reference_io.prepare(reference, measure_quality=False).audio
    style = {k: 0.0 for k in ("noise_scale", "noise_w") if k in engine.controls}  # same audio on both paths
    normalized = " ".join(text.prepare(PARAGRAPH).sentences)
    run_ours(name, reference, style)  # warm-up: loads models, fills caches
    direct, ours, firsts, durations = [], [], [], []
    for index in range(runs):
        if index % 2:  # alternate which path runs first, so neither always gets the warmer cache
            direct.append(run_direct(engine, normalized, reference, style))
        wall, cpu, first, duration = run_ours(name, reference, style)
        if not index % 2:
            direct.append(run_direct(engine, normalized, reference, style))
        ours.append((wall, cpu))
        firsts.append(first)
        durations.append(duration)
    row = {"audio_s": statistics.median(durations), "first_s": statistics.median(firsts), "used": loaded.name}
    for index, kind in enumerate(("wall", "cpu")):
        mine, bare = statistics.median(o[index] for o in ours), statistics.median(d[index] for d in direct)
        row.update({f"direct_{kind}": bare, f"ours_{kind}": mine, f"overhead_{kind}": (mine - bare) / bare})
    row["rtf"] = row["ours_wall"] / row["audio_s"]
    return row


def main() -> int:
    """Print the table; exit 1 when an engine's CPU overhead exceeds 10% (wall time is noisy on a shared machine)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"3-sentence paragraph ({len(PARAGRAPH)} chars), median of {args.runs} runs after a warm-up")
    print(f"{'engine':<18} {'audio s':>8} {'RTF':>6} {'first audio s':>14} {'direct s':>9} {'ours s':>7} "
          f"{'overhead':>9} {'direct CPU s':>13} {'ours CPU s':>11} {'CPU overhead':>13}")
    worst = 0.0
    for name in engines():
        try:
            row = bench(name, args.runs)
        except (models.ModelUnavailable, ValueError, RuntimeError) as exc:
            print(f"{name:<18} unavailable: {exc}")
            continue
        worst = max(worst, row["overhead_cpu"])
        print(f"{row['used']:<18} {row['audio_s']:>8.2f} {row['rtf']:>6.3f} {row['first_s']:>14.3f} "
              f"{row['direct_wall']:>9.3f} {row['ours_wall']:>7.3f} {row['overhead_wall']:>+9.1%} "
              f"{row['direct_cpu']:>13.3f} {row['ours_cpu']:>11.3f} {row['overhead_cpu']:>+13.1%}")
    return 0 if worst <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
