"""Generate the committed multi-speaker test speech set in tests/fixtures/speech/.

Voices come from offline synthesisers only: the embedded Piper joe voice,
flite's built-in voices and espeak-ng. Output: 16 kHz mono FLAC files and
``manifest.csv`` (id, speaker, text, audio). Run once; the result is committed
so tests need no synthesis step:

    .venv/bin/python scripts/make_fixtures.py
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import audio, models

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech"
RATE = 16_000

SENTENCES = [
    "The little boat drifted slowly toward the rocky shore.",
    "Please bring three apples and a loaf of bread from the market.",
    "Bright sunlight poured through the open kitchen window.",
    "We finished the long journey just before the storm arrived.",
    "Her brother plays the violin every Sunday afternoon.",
    "A cold wind swept across the empty parking lot.",
]

# speaker -> (synthesiser, voice, indices of the sentences it speaks)
SPEAKERS = {
    "joe": ("piper", "piper-joe", [0, 1, 2, 3]),
    "slt": ("flite", "slt", [0, 1, 4, 5]),
    "rms": ("flite", "rms", [0, 2, 3, 4]),
    "awb": ("flite", "awb", [1, 2, 3, 5]),
    "kal": ("flite", "kal16", [0, 3, 4, 5]),
    "espf": ("espeak-ng", "en-us+f2", [1, 2, 4, 5]),
}


def synthesize(kind: str, voice: str, text: str) -> audio.Audio:
    """Speak ``text`` with one offline synthesiser and return 16 kHz Audio."""
    if kind == "piper":
        return models.load(voice).model.synthesize(text).resample(RATE)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        if kind == "flite":
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(wav)], check=True)
        else:
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
        return audio.load(wav).resample(RATE)


def main() -> None:
    """Write every speaker's sentences and the manifest."""
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for speaker, (kind, voice, indices) in SPEAKERS.items():
        for i in indices:
            utt = audio.loudness_normalize(synthesize(kind, voice, SENTENCES[i]), -23.0)
            name = f"{speaker}_{i:02d}.flac"
            audio.save(utt, OUT / name)
            rows.append({"id": f"{speaker}_{i:02d}", "speaker": speaker, "text": SENTENCES[i], "audio": name})
    with (OUT / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "speaker", "text", "audio"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} utterances to {OUT}")


if __name__ == "__main__":
    main()
