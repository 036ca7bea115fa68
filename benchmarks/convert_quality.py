"""Identity and intelligibility of a voice converter on ordered speaker pairs.

For every ordered pair (source speaker, target speaker) one source utterance
is converted toward the target. Split per target speaker (utterances sorted by
id): the first two utterances, concatenated, are the conversion reference; the
third is the speaker prompt the output is scored against, so the similarity is
never measured against audio the converter matched frames from. A source
utterance is one whose sentence is in neither the reference nor the prompt
(the converter must not get the target saying the same words); ``--sources N``
converts up to N of them per pair (the fixtures have one).

Scores: lift = speaker_sim(out, prompt) - speaker_sim(source, prompt) with the
embedded GE2E encoder; its ceiling, what the target really speaking would
score, is speaker_sim(the target's own utterances after the prompt, prompt) -
speaker_sim(source, prompt) (how much room a set leaves: about +0.35 for the
fixtures, +0.19 for real meeting speech). WER of source and output with the
embedded Whisper base; DNSMOS OVRL of the output. WER is given as the mean over conversions and as
corpus WER (all errors / all words), which short sentences make less noisy.
Run:

    .venv/bin/python benchmarks/convert_quality.py [--set DIR] [--speakers a,b,c] [--engine NAME] [--sources N]

DIR holds manifest.csv (id, speaker, text, audio); default: the test fixtures.
scripts/held_out_voices.py builds such sets from installed synthesisers.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from eval.metrics.speaker import cosine  # noqa: E402
from eval.metrics.wer import word_error  # noqa: E402
from eval.stats import bootstrap_mean_ci  # noqa: E402
from lab import audio, convert, models  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "speech"


@dataclass(frozen=True)
class Utterance:
    """One manifest row with its decoded audio."""

    id: str
    speaker: str
    text: str
    audio: audio.Audio


@dataclass(frozen=True)
class PairScore:
    """Scores of one converted utterance."""

    source: str
    target: str
    utterance: str
    sim_source: float
    sim_output: float
    wer_source: float
    wer_output: float
    dnsmos_ovrl: float
    rtf: float
    words: int
    sim_target_own: float  # NaN when the target has no utterance after its prompt

    @property
    def ceiling(self) -> float:
        """The lift of the target's own held-out speech: what a perfect conversion would score."""
        return self.sim_target_own - self.sim_source

    @property
    def lift(self) -> float:
        """Similarity to the target prompt gained by converting."""
        return self.sim_output - self.sim_source


def load_set(folder: Path) -> dict[str, list[Utterance]]:
    """Utterances of ``folder``/manifest.csv grouped by speaker, sorted by id."""
    with (folder / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    groups: dict[str, list[Utterance]] = {}
    for r in sorted(rows, key=lambda r: r["id"]):
        utt = Utterance(r["id"], r["speaker"], r["text"], audio.load(folder / r["audio"]))
        groups.setdefault(r["speaker"], []).append(utt)
    return groups


def split(utterances: list[Utterance]) -> tuple[audio.Audio, Utterance]:
    """(conversion reference = first two utterances joined, speaker prompt = the third)."""
    first, second, prompt = utterances[:3]
    rate = first.audio.sample_rate
    joined = np.concatenate([first.audio.samples, second.audio.resample(rate).samples])
    return audio.Audio(joined, rate), prompt


def pick_sources(source: list[Utterance], target: list[Utterance], n: int = 1) -> list[Utterance]:
    """Up to ``n`` of the source speaker's utterances (last first) whose sentences the target's reference and
    prompt avoid; the last utterance if none does."""
    used = {u.text for u in target[:3]}
    return [u for u in reversed(source) if u.text not in used][:n] or [source[-1]]


def evaluate(groups: dict[str, list[Utterance]], engine: str = convert.DEFAULT_FILE_ENGINE, quality: bool = True,
             sources: int = 1) -> list[PairScore]:
    """Convert and score up to ``sources`` utterances per ordered pair of speakers in ``groups``.

    DNSMOS is NaN unless ``quality``.
    """
    encoder = models.load("resemblyzer-ge2e").model
    asr = models.load("whisper-base-ct2").model
    dnsmos = models.load("dnsmos").model if quality else None
    targets = {name: split(utts) for name, utts in groups.items()}
    prepared = {name: convert.prepare_target(ref, engine) for name, (ref, _) in targets.items()}
    embedded = {u.id: encoder.embed(u.audio) for utts in groups.values() for u in utts}  # each utterance once
    prompts = {name: embedded[prompt.id] for name, (_, prompt) in targets.items()}
    own = {name: statistics.fmean(cosine(embedded[u.id], prompts[name]) for u in utts[3:])
           if len(utts) > 3 else float("nan") for name, utts in groups.items()}
    rows, source_wer = [], {}
    for src_name, tgt_name in itertools.permutations(groups, 2):
        for src in pick_sources(groups[src_name], groups[tgt_name], sources):
            result = convert.convert(src.audio, prepared[tgt_name], engine)
            wer = lambda a, text=src.text: word_error(text, asr.transcribe(a)).rate  # noqa: E731
            if src.id not in source_wer:
                source_wer[src.id] = wer(src.audio)
            ovrl = dnsmos.predict(result.audio)["dnsmos_ovrl"] if dnsmos else float("nan")
            rows.append(PairScore(src_name, tgt_name, src.id, cosine(embedded[src.id], prompts[tgt_name]),
                                  cosine(encoder.embed(result.audio), prompts[tgt_name]), source_wer[src.id],
                                  wer(result.audio), ovrl, result.rtf, len(src.text.split()), own[tgt_name]))
    return rows


def summary(rows: list[PairScore]) -> dict[str, float]:
    """Means over conversions, corpus WER, median RTF."""
    mean = lambda key: statistics.fmean(getattr(r, key) for r in rows)  # noqa: E731
    corpus = lambda key: sum(getattr(r, key) * r.words for r in rows) / sum(r.words for r in rows)  # noqa: E731
    return {"lift": mean("lift"), "ceiling": mean("ceiling"), "sim_source": mean("sim_source"),
            "sim_output": mean("sim_output"),
            "wer_source": mean("wer_source"), "wer_output": mean("wer_output"), "dnsmos_ovrl": mean("dnsmos_ovrl"),
            "corpus_wer_source": corpus("wer_source"), "corpus_wer_output": corpus("wer_output"),
            "rtf": statistics.median(r.rtf for r in rows)}


def main() -> None:
    """Print the per-pair table and the means."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=FIXTURES, help="folder with manifest.csv")
    parser.add_argument("--speakers", help="comma-separated subset of speakers")
    parser.add_argument("--engine", default=convert.DEFAULT_FILE_ENGINE)
    parser.add_argument("--sources", type=int, default=1, help="source utterances converted per pair")
    args = parser.parse_args()
    groups = load_set(args.set)
    if args.speakers:
        groups = {s: groups[s] for s in args.speakers.split(",")}
    start = time.perf_counter()
    rows = evaluate(groups, args.engine, sources=args.sources)
    print(f"engine {args.engine}; set {args.set}; {len(rows)} conversions; {time.perf_counter() - start:.0f} s")
    print(f"{'source':<10} {'target':<10} {'utt':<10} {'sim_src':>7} {'sim_out':>7} {'lift':>6} "
          f"{'WER_src':>7} {'WER_out':>7} {'OVRL':>5} {'RTF':>5}")
    for r in rows:
        print(f"{r.source:<10} {r.target:<10} {r.utterance:<10} {r.sim_source:7.3f} {r.sim_output:7.3f} "
              f"{r.lift:+6.3f} {100 * r.wer_source:6.1f}% {100 * r.wer_output:6.1f}% {r.dnsmos_ovrl:5.2f} {r.rtf:5.2f}")
    s = summary(rows)
    print(f"{'mean':<32} {s['sim_source']:7.3f} {s['sim_output']:7.3f} {s['lift']:+6.3f} "
          f"{100 * s['wer_source']:6.1f}% {100 * s['wer_output']:6.1f}% {s['dnsmos_ovrl']:5.2f} {s['rtf']:5.2f}")
    print(f"{'corpus WER (all errors / all words)':<55} {100 * s['corpus_wer_source']:6.1f}% "
          f"{100 * s['corpus_wer_output']:6.1f}%")
    lift = bootstrap_mean_ci([r.lift for r in rows])
    dwer = bootstrap_mean_ci([100 * (r.wer_output - r.wer_source) for r in rows])
    print(f"ceiling (the target's own held-out speech) {s['ceiling']:+.3f}: the lift is "
          f"{100 * s['lift'] / s['ceiling']:.0f}% of it")
    print(f"95% bootstrap CIs over conversions: lift {lift.estimate:+.3f} [{lift.low:+.3f}, {lift.high:+.3f}]; "
          f"WER(out) - WER(src) {dwer.estimate:+.1f} [{dwer.low:+.1f}, {dwer.high:+.1f}] points")


if __name__ == "__main__":
    main()
