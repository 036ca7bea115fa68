"""Build a held-out voice set for benchmarks/convert_quality.py from the speech synthesisers installed here.

The fixtures are short (8-10 words): one wrong word moves a pair's WER by
10+ points, so a converter's words are hard to judge from them. This writes
six utterances of 16-19 words per voice (a per-voice random draw from twelve
sentences, at a per-utterance random rate) plus manifest.csv, for voices
named as ``kind:name``:

* ``espeak:VOICE``: espeak-ng, e.g. ``espeak:en-gb+f3``, or an MBROLA voice
  (diphones cut from recordings of real speakers) such as ``espeak:mb-us2``,
  which needs ``apt-get install mbrola mbrola-us2`` (Debian contrib/non-free);
* ``flite:VOICE``: flite's built-in voices (awb, rms, slt, kal16);
* ``piper:joe``: the embedded Piper voice with varied speed and noise.

Run: ``.venv/bin/python scripts/held_out_voices.py OUT_DIR espeak:mb-us2 flite:rms ... [--seed 2]``
then ``.venv/bin/python benchmarks/convert_quality.py --set OUT_DIR --sources 2``.
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import audio, models  # noqa: E402

SENTENCES = (
    "The committee agreed to postpone the final vote until every member had read the new proposal carefully.",
    "After the long winter the farmers repaired their fences and planted potatoes along the northern hills.",
    "My grandmother kept a small notebook where she wrote down recipes, phone numbers and the names of birds.",
    "Several passengers complained that the train was late again because of repairs on the old bridge.",
    "The young engineer explained how the pump moved clean water from the river to the village school.",
    "On Sunday afternoon we walked along the beach and collected shells, smooth stones and pieces of glass.",
    "The library will extend its opening hours during the exam period so that students can study longer.",
    "A sudden storm knocked down several trees and left thousands of homes without power for two days.",
    "He carefully wrapped the fragile vase in newspaper before placing it at the bottom of the heavy box.",
    "The orchestra rehearsed the difficult symphony for weeks before the first concert in the city hall.",
    "Doctors recommend drinking enough water, sleeping well and taking a short walk every single day.",
    "The museum guide described how ancient sailors used the stars to find their way across the ocean.",
)
UTTERANCES_PER_VOICE = 6


class VoiceError(RuntimeError):
    """A requested voice cannot be synthesised here."""


def synthesise(kind: str, name: str, text: str, path: Path, rng: random.Random) -> None:
    """Write ``text`` spoken by voice ``kind:name`` to ``path`` (WAV) at a random speaking rate."""
    if kind == "espeak":
        result = subprocess.run(["espeak-ng", "-v", name, "-s", str(rng.randint(140, 175)), "-w", str(path), text],
                                capture_output=True, text=True)
        if result.returncode or not path.is_file() or path.stat().st_size < 1000:
            raise VoiceError(f"espeak-ng cannot speak with voice {name!r}: {result.stderr.strip()[:200]} "
                             "(MBROLA voices need e.g. `apt-get install mbrola mbrola-us2`).")
    elif kind == "flite":
        stretch = f"duration_stretch={rng.uniform(0.95, 1.15):.2f}"
        subprocess.run(["flite", "-voice", name, "--setf", stretch, "-t", text, "-o", str(path)], check=True)
    elif kind == "piper":
        voice = models.load(f"piper-{name}").model
        speech = voice.synthesize(text, speed=rng.uniform(0.9, 1.15), noise_scale=rng.uniform(0.4, 0.8), noise_w=0.6)
        audio.save(speech, path)
    else:
        raise VoiceError(f"Unknown voice kind {kind!r}: use espeak:, flite: or piper:.")


def build(folder: Path, voices: list[str], seed: int) -> int:
    """Write the set; returns the number of utterances."""
    for tool, kind in (("espeak-ng", "espeak"), ("flite", "flite")):
        if any(v.startswith(kind + ":") for v in voices) and not shutil.which(tool):
            raise VoiceError(f"{tool} is not installed: apt-get install {tool}.")
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, voice in enumerate(voices):
        kind, _, name = voice.partition(":")
        speaker = f"{kind}_{name}".replace("+", "_").replace("-", "_")
        rng = random.Random(seed * 100 + index)
        for i, text in enumerate(rng.sample(SENTENCES, UTTERANCES_PER_VOICE)):
            path = folder / f"{speaker}_{i}.wav"
            synthesise(kind, name, text, path, rng)
            rows.append((f"{speaker}_{i}", speaker, text, path.name))
    with (folder / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "speaker", "text", "audio"])
        writer.writerows(rows)
    return len(rows)


def main() -> None:
    """Build the set named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("voices", nargs="+", help="kind:name, e.g. espeak:mb-us2 flite:rms piper:joe")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    try:
        n = build(args.out, args.voices, args.seed)
    except VoiceError as exc:
        sys.exit(f"error: {exc}")
    print(f"{n} utterances of {len(args.voices)} voices in {args.out}")


if __name__ == "__main__":
    main()
