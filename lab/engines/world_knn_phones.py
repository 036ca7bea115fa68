"""world-knn-phones: the embedded converter matching target frames of the same phone (offline files only).

Both recordings are transcribed (embedded Whisper tiny.en; the benchmarks score
words with Whisper base, a different model) and the transcripts forced-aligned
(lab.engines.phone_alignment). Each frame's phone, one-hot and scaled by
PHONE_WEIGHT, is appended to its matching features, so the k nearest target
frames are mostly of the same phone: fewer wrong-phone envelopes, fewer lost
words, which leaves room for a larger matched share (more identity). Labels
need the whole recording (and its transcript), so this engine converts files
only; live streams use world-knn.

Measured with benchmarks/convert_quality.py (beam 5; lift / WER(out) -
WER(src) in points; conversions in parentheses), world-knn -> world-knn-phones:

| set | world-knn | world-knn-phones | DNSMOS OVRL |
|---|---|---|---|
| fixtures (30) | +0.166 / +6.3 | +0.194 / +7.5 | 2.81 |
| dev (60) | +0.162 / +12.6 | +0.186 / +11.7 | 2.84 |
| test, never used for choosing (60) | +0.156 / +9.1 | +0.183 / +9.2 | 2.94 |
| test2 (60) | +0.130 / +18.2 | +0.150 / +15.8 | 2.88 |
| meeting speech, AMI (36) | +0.084 / +25.2 | +0.088 / +25.3 | 2.26 |

Screened on test2 (share 0.7: weight 2 +0.136 / +14.0, weight 3 +0.141 /
+14.3, prior 10 +0.143 / +14.8; weight 6 lost words: +18.1 at one source per
pair), then share 0.8. Free phone recognition instead of alignment agreed with
it on 31% of frames and was not pursued. Scaling a frame's share down (to 0.3
when none of its k matched target frames carries its phone) moved test2's
frontier (share 0.8: +0.140 / +10.7; share 1.0: +0.154 / +14.7) but not the
others' (share 1.0: fixtures +0.189 / +12.7, dev +0.191 / +10.2, test +0.185
/ +9.8, meeting speech +0.083 / +25.7; share 0.9: fixtures +0.183 / +11.9,
dev +0.183 / +10.1, test +0.178 / +8.3), so it was dropped. Real meeting
speech does not move.
Speech that is not English is transcribed as invented English by tiny.en and
labelled with its phones; the labels are then noise, which the soft weight
bounds (no warning: the recogniser cannot tell, though invented words the
dictionary lacks are named). Measured on French (six espeak-ng voices, 30
conversions, Whisper base in French; its WER on the sources is 78%, so only
the comparison means anything): world-knn lift +0.158, WER 104.9%;
world-knn-phones +0.162, WER 95.8%: the labels cost nothing there.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab import models
from lab.audio import Audio
from lab.engines import world_analysis as wa
from lab.engines import world_matching as wm
from lab.engines.phone_alignment import Alignment, PhoneAligner
from lab.engines.world_knn import OFFLINE_CHUNK_MS, Settings, WorldKnnEngine, WorldKnnStreamer

ASR = "whisper-tiny-en-ct2"
PHONE_WEIGHT = 3.0  # one-hot scale: a phone mismatch adds 2 * 3^2 = 18 to a squared distance of ~70 between frames
MATCH_SHARE = 0.8
# A reference's first 30 s (3-30 s is what the app asks for): a 60 s one took 5-24 s to prepare (Whisper's
# fallback decoding on repetitive speech), bounded now at about 2 s.
MAX_REFERENCE_SECONDS = 30.0
MAX_ALIGN_SECONDS = 120.0  # longer recordings are matched on cepstra alone (the result says so)


@dataclass(frozen=True)
class PhoneVoice:
    """A target analysed with phone labels: the voice (tagged keys) and how its reference was labelled."""

    voice: wm.TargetVoice
    transcript: str
    labelled: bool  # its frames carry phone labels
    notes: tuple[str, ...]  # what went wrong labelling the reference, phrased for the user


@dataclass
class PhoneKnnEngine(WorldKnnEngine):
    """world-knn with phone-tagged matching features (see the module docstring)."""

    settings: Settings = field(default_factory=lambda: Settings(match_weight=MATCH_SHARE,
                                                                unvoiced_match_weight=MATCH_SHARE))
    offline_only: bool = True
    takes_transcript: bool = True
    aligner: PhoneAligner | None = None
    asr: Any = None  # loaded at first use: the registry load (and a refusal to stream) stays instant

    def prepare_target(self, reference: Audio) -> PhoneVoice:
        """Analyse, transcribe and phone-align the target's reference recording.

        Raises:
            AudioError: less than 1 s of speech in the reference.
        """
        reference = reference.resample(wa.SAMPLE_RATE)  # once, for the analysis, the ASR and the aligner
        notes: tuple[str, ...] = ()
        if reference.duration > MAX_REFERENCE_SECONDS:
            notes = (f"Only the first {MAX_REFERENCE_SECONDS:.0f} s of the {reference.duration:.0f} s target reference "
                     "were used: more rarely helps, and transcribing and aligning it takes long.",)
            reference = Audio(reference.samples[: int(MAX_REFERENCE_SECONDS * wa.SAMPLE_RATE)], wa.SAMPLE_RATE)
        # The recogniser and the aligner run beside the WORLD analysis (both leave the GIL while they compute).
        with ThreadPoolExecutor(1) as pool:
            labelling = pool.submit(self._label, reference, -(-len(reference.samples) // wa.FRAME))
            frames = wa.analyse_signal(reference.samples.astype(np.float64))
            transcript, alignment = labelling.result()
        return PhoneVoice(wm.build_target(frames, alignment.one_hot(PHONE_WEIGHT)), transcript,
                          alignment.problem is None, notes + _notes("target reference", alignment))

    def streamer(self, voice: PhoneVoice, chunk_ms: int = 20) -> WorldKnnStreamer:
        """Refused: phone labels need the whole recording."""
        raise ValueError("world-knn-phones converts whole files only; use world-knn for live conversion.")

    def convert(self, source: Audio, voice: PhoneVoice, transcript: str | None = None) -> tuple[Audio, dict[str, Any]]:
        """Convert a whole recording toward ``voice``; ``extra`` adds both transcripts and any labelling problem.

        ``transcript``: what the source says, when known (e.g. the sentence a TTS spoke): aligned as it is, the
        source is not transcribed.
        """
        start = time.perf_counter()
        source = source.resample(wa.SAMPLE_RATE)  # once, for the ASR, the aligner and the conversion
        transcript, alignment = self._label(source, -(-len(source.samples) // wa.FRAME), transcript)
        tags = alignment.one_hot(PHONE_WEIGHT)
        out, extra = self._run(source, WorldKnnStreamer(voice.voice, self.settings, OFFLINE_CHUNK_MS,
                                                        self.noise, tags))
        extra.update(source_transcript=transcript, reference_transcript=voice.transcript,
                     phones_aligned=voice.labelled and alignment.problem is None,
                     source_unlabelled_reason=alignment.problem, source_unknown_words=list(alignment.skipped),
                     reference_notes=list(voice.notes),
                     warnings=[*voice.notes, *_notes("source", alignment)],
                     convert_seconds=time.perf_counter() - start, target_speech_seconds=voice.voice.speech_seconds)
        return out, extra

    def _label(self, audio: Audio, n_frames: int, transcript: str | None = None) -> tuple[str, Alignment]:
        if audio.duration > MAX_ALIGN_SECONDS:
            return transcript or "", Alignment.unlabelled(
                n_frames, f"recordings over {MAX_ALIGN_SECONDS:.0f} s are not phone-aligned")
        recognised = transcript is None
        if recognised:
            try:
                if self.asr is None:
                    self.asr = models.load(ASR, allow_fallback=False).model
            except models.ModelUnavailable as exc:
                reason = str(exc).rstrip(".")
                return "", Alignment.unlabelled(n_frames, f"no speech recogniser to transcribe it ({reason})")
            transcript = self.asr.transcribe(audio)
        return transcript, self.aligner.align(audio, transcript, n_frames, recognised)


def _notes(what: str, alignment: Alignment) -> tuple[str, ...]:
    """What the user should know about how a recording was labelled (nothing when all went well)."""
    if alignment.problem:
        return (f"The {what} was matched without phone labels: {alignment.problem}.",)
    if alignment.skipped:
        return (f"The {what}'s transcript has words the pronunciation dictionary lacks ({', '.join(alignment.skipped)}"
                "): the phones around them may be misplaced.",)
    return ()


def load(path: Path | None, spec: models.ModelSpec) -> PhoneKnnEngine:
    """Registry loader: ``path`` holds the pocketsphinx package's en-us model; the ASR comes from the registry."""
    if path is None:
        raise models.ModelUnavailable(f"{spec.name} needs the PocketSphinx en-us model (pip install pocketsphinx).")
    return PhoneKnnEngine(aligner=PhoneAligner(path / "pocketsphinx" / "model" / "en-us"))
