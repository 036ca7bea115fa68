"""`python -m eval score`: score one output file with any metrics, as JSON or a readable table.

    python -m eval score --deg OUT.wav [--ref REF.wav] [--prompt SPK.wav] [--text TEXT]
                         [--metrics a,b,c] [--asr NAME] [--speaker NAME] [--no-fallback] --json

With --json, stdout holds exactly one JSON object: per metric its value (null
when skipped or failed), unit, model and details; ``skipped`` and ``errors``
map metric names to reasons; ``models`` gives the provenance of every model
that ran. Unusable audio or arguments exit with status 2 and a message on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from typing import Any

from eval.metrics import METRICS, MetricInputs, MetricResult, Scorer
from lab import audio
from lab.jsonable import to_jsonable
from lab.models import ModelUnavailable


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``score`` on the ``python -m eval`` parser."""
    p = sub.add_parser("score", help="score one audio file (PESQ, STOI, speaker similarity, WER, DNSMOS)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--deg", required=True, help="the audio under test (system output)")
    p.add_argument("--ref", help="same-content reference audio (enables pesq_wb, pesq_nb, stoi, estoi)")
    p.add_argument("--prompt", help="recording of the target speaker (enables speaker_sim)")
    p.add_argument("--text", help="expected transcript (enables wer, cer)")
    p.add_argument("--metrics", help=f"comma-separated subset of: {','.join(METRICS)} (default: all)")
    p.add_argument("--asr", help="ASR model for wer/cer (default whisper-small, embedded fallback offline)")
    p.add_argument("--speaker", help="speaker encoder for speaker_sim (default ecapa-voxceleb, embedded fallback)")
    p.add_argument("--no-fallback", action="store_true", help="fail instead of using an embedded fallback model")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Score the files named in ``args``; returns the exit status (0 ok, 2 unusable input)."""
    try:
        metrics = _parse_metrics(args.metrics)
        inputs = MetricInputs(
            deg=audio.load(args.deg, role="--deg"),
            ref=audio.load(args.ref, role="--ref") if args.ref else None,
            prompt=audio.load(args.prompt, role="--prompt") if args.prompt else None,
            text=args.text,
        )
        scorer = Scorer(asr=args.asr, speaker=args.speaker, allow_fallback=not args.no_fallback)
    except (audio.AudioError, ModelUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with contextlib.redirect_stdout(sys.stderr):  # keep library chatter out of the JSON stream
        results = scorer.score(inputs, metrics)
    report = build_report(results, scorer.models(), args)
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False))
    else:
        _print_table(report)
    return 0


def build_report(results: dict[str, MetricResult], models: dict[str, dict], args: argparse.Namespace) -> dict:
    """The JSON object: inputs, per-metric entries, skipped/errors maps and model provenance."""
    return {
        "inputs": {"deg": args.deg, "ref": args.ref, "prompt": args.prompt, "text": args.text},
        "metrics": {name: _metric_entry(r) for name, r in results.items()},
        "skipped": {name: r.skipped for name, r in results.items() if r.skipped},
        "errors": {name: r.error for name, r in results.items() if r.error},
        "models": models,
    }


def _metric_entry(result: MetricResult) -> dict[str, Any]:
    info = METRICS[result.name]
    return {
        "value": result.value if math.isfinite(result.value) else None,
        "unit": info.unit, "higher_is_better": info.higher_is_better, "model": result.model,
        "details": to_jsonable(result.details),
    }



def _parse_metrics(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(METRICS)}")
    return names


def _print_table(report: dict) -> None:
    for name, entry in report["metrics"].items():
        value = "-" if entry["value"] is None else f"{entry['value']:.4f}"
        note = report["skipped"].get(name) or report["errors"].get(name) or entry["model"] or ""
        print(f"{name:<12} {value:>8}  {note}")
