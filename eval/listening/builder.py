"""Turn stimuli into a stored listening test: loudness-matched copies, items and attention checks.

Every clip (system outputs, prompts and degraded attention copies alike) is
normalised to the same integrated loudness with one gain per clip, capped so
the peak stays below -1 dBFS; there is no per-clip peak normalisation. A system
output too quiet to measure (silence) is kept as it is and named in the
warnings: raters must hear that the system failed there. Items
pair systems on the same utterance (A/B, CMOS) or present one clip (MOS,
SMOS). Attention checks are ordinary-looking items whose right answer is
known: an identical pair, or a deliberately degraded clip.
"""

from __future__ import annotations

import itertools
import logging
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import signal
from sqlalchemy.orm import Session

from eval.listening import tokens
from eval.listening.database import Database
from eval.listening.schema import KINDS, PAIR_KINDS, Clip, Item, ListeningTest
from eval.listening.sources import SourceError, Stimulus
from lab import audio as lab_audio

log = logging.getLogger(__name__)

TARGET_LUFS = -26.0
PEAK_CAP_DBFS = -1.0
MAX_CLIP_SECONDS = 60.0
DEGRADED_SNR_DB = 0.0


@dataclass(frozen=True)
class CreatedTest:
    """What the owner needs after creating a test (the owner token is shown only once)."""

    test_id: str
    owner_token: str
    rater_path: str
    kind: str
    n_items: int
    n_attention: int
    n_clips: int
    systems: list[str]
    warnings: list[str] = field(default_factory=list)


def degrade(audio: lab_audio.Audio, seed: int = 0) -> lab_audio.Audio:
    """An obviously worse copy for attention checks: 1 kHz low-pass plus white noise at 0 dB SNR.

    Args:
        audio: the clean clip.
        seed: noise seed.

    Returns:
        Audio of the same length and rate.
    """
    sos = signal.butter(6, 1000, "lowpass", fs=audio.sample_rate, output="sos")
    muffled = signal.sosfilt(sos, audio.samples.astype(np.float64))
    noise = np.random.default_rng(seed).standard_normal(len(muffled))
    noise *= np.sqrt(np.mean(muffled**2) / max(np.mean(noise**2), 1e-12) / 10 ** (DEGRADED_SNR_DB / 10))
    mixed = muffled + noise
    return lab_audio.Audio((mixed / max(1.0, float(np.max(np.abs(mixed))))).astype(np.float32), audio.sample_rate)


class _ClipWriter:
    """Writes loudness-matched WAV copies into the test's folder under server-chosen names."""

    def __init__(self, test: ListeningTest, session: Session, folder: Path) -> None:
        self.test, self.session, self.folder = test, session, folder
        self.capped = 0
        self.unmeasurable: dict[int, str] = {}  # clip id -> "system/utterance" of outputs too quiet to match

    def add(self, clip_audio: lab_audio.Audio, utterance_id: str, system: str, role: str,
            metrics: dict | None = None) -> Clip:
        """Store one clip; a silent system output is kept as it is (raters must hear that it failed),
        a silent prompt is an error naming it."""
        try:
            matched = lab_audio.loudness_normalize(clip_audio, TARGET_LUFS, PEAK_CAP_DBFS)
        except lab_audio.AudioError as exc:
            if role != "output":
                raise SourceError(f"the {role} of utterance {utterance_id!r}: {exc}") from exc
            matched = clip_audio
        if np.max(np.abs(matched.samples)) >= 10 ** (PEAK_CAP_DBFS / 20) * 0.999:
            self.capped += 1
        filename = f"{tokens.new_id(9)}.wav"
        lab_audio.save(matched, self.folder / filename)
        clip = Clip(test_id=self.test.id, utterance_id=utterance_id, system=system, role=role, filename=filename,
                    duration=matched.duration, metrics=metrics or {})
        self.session.add(clip)
        self.session.flush()
        if matched is clip_audio:
            self.unmeasurable[clip.id] = f"{system}/{utterance_id}"
        return clip

    def warnings(self) -> list[str]:
        """What the owner should know about the clips as written."""
        out = []
        if self.capped:
            out.append(f"{self.capped} clips could not reach {TARGET_LUFS} LUFS without exceeding "
                       f"{PEAK_CAP_DBFS} dBFS peak")
        if self.unmeasurable:
            names = sorted(self.unmeasurable.values())
            out.append(f"{len(names)} output clips are silent or too quiet to measure and are played as they are "
                       f"(not used for attention checks): {', '.join(names[:10])}{' …' if len(names) > 10 else ''}")
        return out


def _attention_warning(attention: list[Item]) -> list[str]:
    """Say so when no attention check could be made (every output silent): raters cannot be screened."""
    if attention:
        return []
    return ["no attention checks could be made (every output is silent): careless raters cannot be flagged"]


def _load(source: Path | bytes) -> lab_audio.Audio:
    return lab_audio.load(source, max_seconds=MAX_CLIP_SECONDS, min_seconds=0.5)


def _attention_count(n_items: int) -> int:
    return min(5, max(1, n_items // 20))


def create_test(db: Database, stimuli: list[Stimulus], kind: str, question: str, *, allow_tie: bool = True,
                items_per_rater: int | None = None, source: dict | None = None, seed: int | None = None) -> CreatedTest:
    """Store a new test built from ``stimuli``.

    Args:
        db: the listening database.
        stimuli: system outputs (see :mod:`eval.listening.sources`).
        kind: "ab", "mos", "smos" or "cmos".
        question: the question shown to raters.
        allow_tie: A/B only: offer "no preference" (needed for identical-pair attention checks).
        items_per_rater: normal items each rater judges (None: all); attention checks come on top.
        source: provenance stored with the test (e.g. the run folder).
        seed: seed for choosing attention-check clips (None: random).

    Raises:
        SourceError: unknown kind, empty question, too few systems for a pair test, or unusable audio.
    """
    if kind not in KINDS:
        raise SourceError(f"unknown test kind {kind!r}; choose one of {', '.join(KINDS)}")
    if not question.strip():
        raise SourceError("the question shown to raters is empty")
    systems = sorted({s.system for s in stimuli})
    if kind in PAIR_KINDS and len(systems) < 2:
        raise SourceError(f"a {kind} test compares systems: found only {systems}")
    rng = random.Random(seed)
    test_id, owner_token = tokens.new_id(9), tokens.new_secret()
    folder = db.audio_root / test_id
    folder.mkdir(parents=True, exist_ok=False)
    try:
        with db.write() as session:
            test = ListeningTest(id=test_id, kind=kind, question=question.strip(), allow_tie=allow_tie,
                                 owner_token_hash=tokens.hash_secret(owner_token), items_per_rater=items_per_rater,
                                 source=source or {}, audio_dir=str(folder))
            session.add(test)
            session.flush()
            writer = _ClipWriter(test, session, folder)
            items, outputs, prompts = _normal_items(writer, stimuli, kind)
            attention = _attention_items(writer, outputs, prompts, kind, allow_tie, len(items), rng)
            session.add_all(items + attention)
    except (lab_audio.AudioError, SourceError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise SourceError(str(exc)) from exc
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    log.info("created %s test %s: %d items, %d attention checks", kind, test_id, len(items), len(attention))
    return CreatedTest(test_id, owner_token, f"/listen/t/{test_id}", kind, len(items), len(attention),
                       len(outputs), systems, writer.warnings() + _attention_warning(attention))


def _normal_items(writer: _ClipWriter, stimuli: list[Stimulus], kind: str
                  ) -> tuple[list[Item], list[Clip], dict[str, int]]:
    """Items, the output clips, and the prompt clip id of each utterance that has one."""
    by_utterance: dict[str, list[Stimulus]] = {}
    for s in stimuli:
        by_utterance.setdefault(s.utterance_id, []).append(s)
    items, outputs, prompts = [], [], {}
    for utterance_id, group in sorted(by_utterance.items()):
        if kind in PAIR_KINDS and len(group) < 2:
            log.warning("utterance %s has only one system's output: no pair to compare", utterance_id)
            continue
        prompt_source = next((s.prompt for s in group if s.prompt is not None), None)
        prompt = writer.add(_load(prompt_source), utterance_id, "", "prompt") if prompt_source is not None else None
        clips = [writer.add(_load(s.audio), utterance_id, s.system, "output", s.metrics)
                 for s in sorted(group, key=lambda s: s.system)]
        outputs.extend(clips)
        prompt_id = prompts[utterance_id] = prompt.id if prompt else None
        if kind in PAIR_KINDS:
            items += [Item(test_id=writer.test.id, utterance_id=utterance_id, clip_a_id=a.id, clip_b_id=b.id,
                           prompt_clip_id=prompt_id) for a, b in itertools.combinations(clips, 2)]
        else:
            items += [Item(test_id=writer.test.id, utterance_id=utterance_id, clip_a_id=c.id, prompt_clip_id=prompt_id)
                      for c in clips]
    if not items:
        raise SourceError("no utterance has outputs of two systems to compare" if kind in PAIR_KINDS else "no items")
    return items, outputs, prompts


def _attention_items(writer: _ClipWriter, outputs: list[Clip], prompts: dict[str, int], kind: str, allow_tie: bool,
                     n_items: int, rng: random.Random) -> list[Item]:
    """Identical pairs (expected: no preference / |CMOS| <= 1) and degraded clips (expected: rated worse).

    They show the same reference prompt as the normal items of their utterance, so nothing gives them away.
    """
    count = _attention_count(n_items)
    checks = []
    folder = writer.folder
    audible = [clip for clip in outputs if clip.id not in writer.unmeasurable]
    for clip in rng.sample(audible, min(count, len(audible))):
        worse = writer.add(degrade(lab_audio.load(folder / clip.filename), seed=clip.id), clip.utterance_id,
                           clip.system, "degraded")
        if kind in PAIR_KINDS:
            checks.append(Item(test_id=writer.test.id, kind="attention_degraded", utterance_id=clip.utterance_id,
                               clip_a_id=clip.id, clip_b_id=worse.id, expected="a_better",
                               prompt_clip_id=prompts.get(clip.utterance_id)))
        else:
            checks.append(Item(test_id=writer.test.id, kind="attention_degraded", utterance_id=clip.utterance_id,
                               clip_a_id=worse.id, expected="low",
                               prompt_clip_id=prompts.get(clip.utterance_id)))
    if kind == "cmos" or (kind == "ab" and allow_tie):
        for clip in rng.sample(audible, min(count, len(audible))):
            checks.append(Item(test_id=writer.test.id, kind="attention_identical", utterance_id=clip.utterance_id,
                               clip_a_id=clip.id, clip_b_id=clip.id, expected="same",
                               prompt_clip_id=prompts.get(clip.utterance_id)))
    return checks
