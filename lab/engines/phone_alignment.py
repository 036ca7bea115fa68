"""Phone labels per WORLD frame: a transcript forced-aligned to the audio by PocketSphinx.

The embedded converter's cepstral matching sometimes picks target frames of the
wrong phone, which costs words. Knowing which phone each frame belongs to lets
matching prefer target frames of the same phone. The labels come from forced
alignment (the CMU en-us acoustic model and dictionary shipped in the
``pocketsphinx`` PyPI package) of a transcript: alignment against known words
places phones far better than free phone recognition (PocketSphinx's phone loop
agreed with the alignment on only 31% of speech frames in held-out voices).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lab.audio import Audio
from lab.engines.world_analysis import FRAME, SAMPLE_RATE
from lab.text import normalize

PHONES = ("SIL", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH",
          "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
          "Z", "ZH")
PHONE_INDEX = {name: i for i, name in enumerate(PHONES)}
SPHINX_FRAME = SAMPLE_RATE // 100  # PocketSphinx frames are 10 ms
BEAM = 1e-300  # the alignment graph is small; a narrow beam loses the only path on unusual voices
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u0060": "'", "\u00b4": "'"})
MAX_WORDS_PER_SECOND = 6.0  # fast speech is 4-5; more means the recogniser looped ("3-4-2-1-1-1-1-...")


@dataclass(frozen=True)
class Alignment:
    """Phone labels of one recording.

    Attributes:
        phones: (N,) index into PHONES per 5 ms WORLD frame (0, silence, where nothing was aligned).
        words: the transcript words that were aligned.
        skipped: transcript words the pronunciation dictionary does not know (left out of the alignment).
        problem: why no phone could be aligned (empty transcript, alignment failed), else None.
    """

    phones: np.ndarray
    words: tuple[str, ...]
    skipped: tuple[str, ...]
    problem: str | None = None

    @staticmethod
    def unlabelled(n_frames: int, problem: str, words: tuple[str, ...] = (), skipped: tuple[str, ...] = ()
                   ) -> Alignment:
        """No phone on any of ``n_frames`` frames, and why."""
        return Alignment(np.zeros(n_frames, int), words, skipped, problem)

    def one_hot(self, scale: float) -> np.ndarray:
        """(N, len(PHONES)) float32 matching features: ``scale`` at each frame's phone, all zero when not aligned.

        All-zero rows add the same distance to every target frame, so matching falls back to the cepstra alone.
        """
        if self.problem is not None:
            return np.zeros((len(self.phones), len(PHONES)), np.float32)
        return np.eye(len(PHONES), dtype=np.float32)[self.phones] * np.float32(scale)


class PhoneAligner:
    """Forced alignment with the PocketSphinx en-us model.

    A fresh decoder per recording (0.08 s to build): one kept between recordings carries state from the last one
    (8 of 613 frames of a clip were labelled differently after another clip), so a conversion would depend on
    what the process converted before it. A decoder of its own also lets threads align at once.
    """

    def __init__(self, model_root: Path):
        self.model_root = model_root

    def align(self, audio: Audio, transcript: str, n_frames: int, recognised: bool = True) -> Alignment:
        """Label ``n_frames`` 5 ms frames of ``audio`` (any rate) with the phones of ``transcript``.

        ``recognised``: the transcript came from speech recognition, so a transcript far too long for the audio
        is a recogniser loop and is not forced onto it. A known text (what a TTS was asked to say) is aligned
        at any speaking rate.
        """
        from pocketsphinx import Decoder

        decoder = Decoder(hmm=str(self.model_root / "en-us"), dict=str(self.model_root / "cmudict-en-us.dict"),
                          lm=None, samprate=SAMPLE_RATE, bestpath=False, loglevel="FATAL",
                          beam=BEAM, wbeam=BEAM, pbeam=BEAM)
        words = _words(transcript)
        known = tuple(w for w in words if decoder.lookup_word(w))
        skipped = tuple(w for w in words if w not in known)
        if not known:
            return Alignment.unlabelled(n_frames, "no word of the transcript to align", (), skipped)
        seconds = n_frames * FRAME / SAMPLE_RATE
        if recognised and len(known) > MAX_WORDS_PER_SECOND * seconds:
            return Alignment.unlabelled(n_frames, f"the transcript has {len(known)} words for {seconds:.1f} s of "
                                        "audio (the recogniser repeated itself)", known, skipped)
        pcm = (np.clip(audio.resample(SAMPLE_RATE).samples, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        try:
            decoder.set_align_text(" ".join(known))
            _decode(decoder, pcm)
            decoder.set_alignment()
            _decode(decoder, pcm)
        except RuntimeError:
            return Alignment.unlabelled(n_frames, "the transcript could not be fitted to the audio", known, skipped)
        per_sphinx = np.zeros(-(-n_frames * FRAME // SPHINX_FRAME) + 1, int)
        for word in decoder.get_alignment():
            for phone in word:
                per_sphinx[phone.start : phone.start + phone.duration] = PHONE_INDEX.get(phone.name, 0)
        frames = np.minimum(np.arange(n_frames) * FRAME // SPHINX_FRAME, len(per_sphinx) - 1)
        return Alignment(per_sphinx[frames], known, skipped)


def _decode(decoder: Any, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _words(transcript: str) -> list[str]:
    """Lower-case dictionary words: curly apostrophes made straight (don’t -> don't), quotes around a word
    dropped ('hello' -> hello), everything but letters and inner apostrophes a word break."""
    text = _ascii(normalize(transcript.translate(APOSTROPHES))).lower()
    return [w.strip("'") for w in re.sub(r"[^a-z' ]+", " ", text).split() if w.strip("'")]


def _ascii(text: str) -> str:
    """Accents dropped (café -> cafe), so that a word is looked up whole instead of in fragments."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
