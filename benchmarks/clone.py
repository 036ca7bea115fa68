"""Cloning with each file converter: time to first audio, identity and words.

piper-world-knn speaks a sentence with Piper and converts it to the reference
voice. Its converter (``PiperCloneEngine.converter``) is world-knn-phones,
which aligns phones to the text Piper spoke and to the reference's transcript
(Whisper tiny.en, once per reference); world-knn needs neither. For each of
five fixture voices (reference: two utterances; prompt: a third), the same
two-sentence text is cloned ``--runs`` times with both converters,
interleaved so that machine load hits both alike:

* first audio, new reference: the first request for a voice (its analysis
  included: what an uploaded recording costs, and an enrolled voice's first
  use per process); analysed reference: the later requests (cached voice);
* lift: GE2E similarity to the prompt of the clone minus that of Piper's own
  voice saying the text (Piper samples, so every request differs);
* WER of the clone with the embedded Whisper base.

Medians of the times and means of lift and WER over voices and runs, and the
ratio against world-knn in the same run.
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

from eval.metrics.speaker import cosine  # noqa: E402
from eval.metrics.wer import word_error  # noqa: E402
from lab import audio, models, reference  # noqa: E402

TEXT = "The weather was pleasant, so we walked to the market. Did you buy fresh bread there?"
VOICES = ("slt", "rms", "awb", "kal", "espf")
CONVERTERS = ("world-knn", "world-knn-phones")
SPEECH = REPO / "tests" / "fixtures" / "speech"


def reference_and_prompt(speaker: str) -> tuple[audio.Audio, audio.Audio]:
    """Two fixture utterances of ``speaker``, joined and cleaned as the app cleans a reference; and a third."""
    files = sorted(SPEECH.glob(f"{speaker}_*.flac"))
    joined = np.concatenate([audio.load(f).resample(16000).samples for f in files[:2]])
    return reference.prepare(audio.Audio(joined, 16000), measure_quality=False).audio, audio.load(files[3])


def clone(engine: object, voice: audio.Audio) -> tuple[float, audio.Audio]:
    """(wall time from the request to the first sentence's audio, the whole clone)."""
    start = time.perf_counter()
    parts = engine.stream(TEXT, voice)
    first = next(parts)
    seconds = time.perf_counter() - start
    return seconds, audio.Audio(np.concatenate([first.samples, *(p.samples for p in parts)]), first.sample_rate)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4, help="requests per voice and converter (the first is new)")
    args = parser.parse_args()
    encoder, asr = models.load("resemblyzer-ge2e").model, models.load("whisper-base-ct2").model
    piper = models.load("piper-joe").model
    base = models.load("piper-world-knn").model
    engines = {name: replace(base, converter=name, _targets=OrderedDict()) for name in CONVERTERS}
    rows = {name: {"new": [], "analysed": [], "lift": [], "wer": []} for name in CONVERTERS}
    for speaker in VOICES:
        voice, prompt = reference_and_prompt(speaker)
        target = encoder.embed(prompt)
        for run in range(args.runs):
            uncloned = cosine(encoder.embed(piper.synthesize(TEXT)), target)
            for name, engine in engines.items():
                seconds, cloned = clone(engine, voice)
                rows[name]["new" if run == 0 else "analysed"].append(seconds)
                rows[name]["lift"].append(cosine(encoder.embed(cloned), target) - uncloned)
                rows[name]["wer"].append(word_error(TEXT, asr.transcribe(cloned)).rate)
    print(f"two-sentence clones, {len(VOICES)} voices x {args.runs} requests per converter; first audio: medians, "
          "lift and WER: means")
    print(f"{'converter':<18} {'first audio new s':>18} {'analysed s':>11} {'vs world-knn':>14} {'lift':>7} "
          f"{'WER':>6}")
    first = {name: {k: statistics.median(rows[name][k]) for k in ("new", "analysed")} for name in CONVERTERS}
    for name in CONVERTERS:
        ratios = " / ".join(f"{first[name][k] / first[CONVERTERS[0]][k]:.2f}" for k in ("new", "analysed"))
        print(f"{name:<18} {first[name]['new']:>18.2f} {first[name]['analysed']:>11.2f} {ratios + 'x':>14} "
              f"{statistics.mean(rows[name]['lift']):>+7.3f} {100 * statistics.mean(rows[name]['wer']):>5.1f}%")


if __name__ == "__main__":
    main()
