"""Cloning's time to first audio with each file converter: a new reference vs an analysed one.

piper-world-knn speaks a sentence with Piper and converts it to the reference
voice. Its converter (``PiperCloneEngine.converter``) is world-knn-phones,
which aligns phones to the text Piper spoke and to the reference's transcript
(Whisper tiny.en, once per reference); world-knn needs neither. For each of
five fixture voices, the same two-sentence text is cloned ``--runs`` times
with both converters, interleaved so that machine load hits both alike:

* new reference: the first request for a voice (its analysis included: what
  an uploaded recording costs, and an enrolled voice's first use per process);
* analysed reference: the later requests (the voice comes from the engine's cache).

Medians over voices and runs, and the ratio against world-knn in the same run.
Run: ``.venv/bin/python benchmarks/clone.py [--runs 4]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import audio, models, reference  # noqa: E402

TEXT = "The weather was pleasant, so we walked to the market. Did you buy fresh bread there?"
VOICES = ("slt", "rms", "awb", "kal", "espf")
CONVERTERS = ("world-knn", "world-knn-phones")
SPEECH = REPO / "tests" / "fixtures" / "speech"


def reference_of(speaker: str) -> audio.Audio:
    """Two fixture utterances of ``speaker``, joined and cleaned as the app cleans a reference."""
    files = sorted(SPEECH.glob(f"{speaker}_*.flac"))[:2]
    joined = np.concatenate([audio.load(f).resample(16000).samples for f in files])
    return reference.prepare(audio.Audio(joined, 16000), measure_quality=False).audio


def first_audio_seconds(engine: object, voice: audio.Audio) -> float:
    """Wall time from the request to the first sentence's audio (the rest is consumed, not timed)."""
    start = time.perf_counter()
    parts = engine.stream(TEXT, voice)
    next(parts)
    seconds = time.perf_counter() - start
    for _ in parts:
        pass
    return seconds


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4, help="requests per voice and converter (the first is new)")
    args = parser.parse_args()
    base = models.load("piper-world-knn").model
    engines = {name: replace(base, converter=name, _targets=OrderedDict()) for name in CONVERTERS}
    times: dict[str, dict[str, list[float]]] = {name: {"new": [], "analysed": []} for name in CONVERTERS}
    for speaker in VOICES:
        voice = reference_of(speaker)
        for run in range(args.runs):
            for name, engine in engines.items():
                times[name]["new" if run == 0 else "analysed"].append(first_audio_seconds(engine, voice))
    medians = {name: {kind: statistics.median(values) for kind, values in by_kind.items()}
               for name, by_kind in times.items()}
    print(f"first audio of a two-sentence clone; median over {len(VOICES)} voices x {args.runs} requests")
    print(f"{'converter':<18} {'new reference s':>16} {'analysed reference s':>21} "
          f"{'vs world-knn (new / analysed)':>30}")
    for name in CONVERTERS:
        new, analysed = medians[name]["new"], medians[name]["analysed"]
        ratio_new, ratio_analysed = (medians[name][k] / medians[CONVERTERS[0]][k] for k in ("new", "analysed"))
        print(f"{name:<18} {new:>16.2f} {analysed:>21.2f} {ratio_new:>17.2f}x / {ratio_analysed:.2f}x")


if __name__ == "__main__":
    main()
