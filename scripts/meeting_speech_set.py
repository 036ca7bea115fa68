"""Build a real-speech set for benchmarks/convert_quality.py from AMI meeting clips on PyPI.

The synthetic sets (fixtures, scripts/held_out_voices.py) are clean read
speech. Users bring real voices: spontaneous, with room noise. pyannote.audio's
source distribution on PyPI ships ten 30 s excerpts of the AMI meeting corpus
(CC BY 4.0) with speaker turns (RTTM) in its tests. This keeps each speaker's
turns where nobody else talks, cuts them at pauses into utterances of 1.5-6 s
and writes them with manifest.csv (id, speaker, text, audio).

There are no human transcripts: ``text`` is the embedded Whisper base
transcript of the utterance itself, so a source's WER is 0 by construction and
a conversion's WER counts the words lost against what the ASR heard in the
source.

Run: ``.venv/bin/python scripts/meeting_speech_set.py OUT_DIR [--sdist FILE]``
(without ``--sdist`` the file is fetched with ``pip download``), then
``.venv/bin/python benchmarks/convert_quality.py --set OUT_DIR --sources 3``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import audio, models  # noqa: E402

SDIST = "pyannote.audio==4.0.7"
SDIST_SHA256 = "3a903dfb5ca711d134cc2522561c9158b186836f5d62e8a57c46c6648e8a8229"
# The speakers with 15 s or more of solo speech in those clips: two women, two men.
SPEAKERS = ("FEE078", "FEE083", "MEE009", "MEO069")
MIN_SECONDS, MAX_SECONDS, MIN_CUT_SECONDS = 1.5, 6.0, 3.0
PAUSE_WINDOW_S = 0.1  # the energy of this much audio decides where a pause is


def ascii_name(name: str) -> str:
    """``name`` without accents (the clips spell one file trñ00.wav and its turns trn00)."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()


def solo_turns(turns: Iterable[tuple[str, float, float, str]]) -> list[tuple[str, float, float, str]]:
    """The parts of each turn where no other speaker of the same recording talks, at least MIN_SECONDS long.

    Args:
        turns: (recording, start s, end s, speaker).

    Returns:
        (recording, start s, end s, speaker), in the input order.
    """
    turns = list(turns)
    solo = []
    for uri, start, end, speaker in turns:
        pieces = [(start, end)]
        for other_uri, other_start, other_end, other in turns:
            if other_uri != uri or other == speaker or other_end <= start or other_start >= end:
                continue
            pieces = [part for a, b in pieces for part in ((a, min(b, other_start)), (max(a, other_end), b))
                      if part[1] > part[0]]
        solo += [(uri, a, b, speaker) for a, b in pieces if b - a >= MIN_SECONDS]
    return solo


def split_at_pauses(samples: np.ndarray, rate: int) -> list[np.ndarray]:
    """Cut speech longer than MAX_SECONDS at its quietest point between MIN_CUT_SECONDS and MAX_SECONDS.

    Returns:
        Pieces of at least MIN_SECONDS (a shorter tail is dropped), in order.
    """
    window = int(PAUSE_WINDOW_S * rate)
    pieces = []
    while len(samples) > MAX_SECONDS * rate:
        energy = np.convolve(samples.astype(np.float64) ** 2, np.ones(window) / window, mode="same")
        low, high = int(MIN_CUT_SECONDS * rate), int(MAX_SECONDS * rate)
        cut = low + int(np.argmin(energy[low:high]))
        pieces.append(samples[:cut])
        samples = samples[cut:]
    if len(samples) >= MIN_SECONDS * rate:
        pieces.append(samples)
    return pieces


def fetch_sdist(folder: Path) -> Path:
    """Download the pyannote.audio source distribution into ``folder`` with pip."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", SDIST,
                    "-d", str(folder), "--quiet"], check=True)
    return next(folder.glob("pyannote_audio-*.tar.gz"))


def read_clips(sdist: Path) -> tuple[dict[str, audio.Audio], list[tuple[str, float, float, str]]]:
    """The AMI test clips (by ASCII name) and their speaker turns, from the checked source distribution.

    Raises:
        ValueError: the file's checksum is not the one this script was written for.
    """
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise ValueError(f"{sdist} has SHA-256 {digest}, expected {SDIST_SHA256} ({SDIST})")
    clips, turns = {}, []
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if not member.isfile() or name.parent.name != "data" or name.parent.parent.name != "tests":
                continue
            if name.suffix == ".wav":
                clips[ascii_name(name.stem)] = audio.load(tar.extractfile(member).read())
            elif name.suffix == ".rttm":
                for line in tar.extractfile(member).read().decode().splitlines():
                    fields = line.split()
                    start, length = float(fields[3]), float(fields[4])
                    turns.append((ascii_name(fields[1]), start, start + length, ascii_name(fields[7])))
    return clips, turns


def main() -> None:
    """Write the utterances and manifest.csv."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--sdist", type=Path, help=f"a downloaded {SDIST} .tar.gz (default: pip download it)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        clips, turns = read_clips(args.sdist or fetch_sdist(Path(tmp)))
    asr = models.load("whisper-base-ct2").model
    rows, solo = [], solo_turns(turns)
    for speaker in SPEAKERS:
        pieces = []
        for uri, start, end, _ in (t for t in solo if t[3] == speaker):
            clip = clips[uri]
            span = clip.samples[int(start * clip.sample_rate):int(end * clip.sample_rate)]
            pieces += [audio.Audio(p, clip.sample_rate) for p in split_at_pauses(span, clip.sample_rate)]
        for i, piece in enumerate(pieces):
            uid = f"{speaker}_{i:02d}"
            audio.save(piece, args.out / f"{uid}.wav")
            rows.append([uid, speaker, asr.transcribe(piece), f"{uid}.wav"])
            print(f"{uid} {piece.duration:4.1f} s  {rows[-1][2]}")
    with (args.out / "manifest.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["id", "speaker", "text", "audio"], *rows])


if __name__ == "__main__":
    main()
