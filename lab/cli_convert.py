"""`python -m lab convert`: convert a recording to a target voice, offline or as a simulated live stream.

    python -m lab convert SRC.wav --target REF.wav|VOICE [--engine NAME] --out OUT.wav [--json]
    python -m lab convert SRC.wav --target REF.wav --stream --chunk-ms 20 [--out OUT.wav] [--json]

The target is an enrolled voice name or a recording (lab.voices.resolve_reference).
With ``--json`` exactly one JSON object goes to stdout.
"""

from __future__ import annotations

import argparse

from lab import audio, convert, jsonable, voices

CHUNK_STEP_MS = 5  # the WORLD frame period; StreamSession takes at most 1 s per chunk
MAX_CHUNK_MS = 1000


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``convert`` subcommand to the ``python -m lab`` parser."""
    p = sub.add_parser("convert", help="convert a recording to a target voice")
    p.add_argument("source", help="recording to convert")
    p.add_argument("--target", required=True, help="enrolled voice name or a reference recording of the target")
    p.add_argument("--engine", help=f"converter registry name (default {convert.DEFAULT_FILE_ENGINE} for files, "
                   f"{convert.DEFAULT_ENGINE} with --stream)")
    p.add_argument("--out", help="output audio file (.wav, .flac, ...); required unless --stream")
    p.add_argument("--stream", action="store_true", help="simulate a live stream chunk by chunk (latency figures)")
    p.add_argument("--chunk-ms", type=chunk_ms, default=20,
                   help=f"--stream chunk, ms: a multiple of {CHUNK_STEP_MS} up to {MAX_CHUNK_MS} (default 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_convert)


def chunk_ms(value: str) -> int:
    """argparse type of ``--chunk-ms``: whole multiples of the converters' 5 ms frame, at most one second."""
    ms = int(value) if value.isascii() and value.isdigit() else -1  # not int(): it takes '2_0' and ' 20'
    if ms <= 0 or ms % CHUNK_STEP_MS or ms > MAX_CHUNK_MS:
        raise argparse.ArgumentTypeError(f"must be a multiple of {CHUNK_STEP_MS} from {CHUNK_STEP_MS} to "
                                         f"{MAX_CHUNK_MS} ms, got {value!r}")
    return ms


def cmd_convert(args: argparse.Namespace) -> int:
    """Run one conversion and print what ran, how long it took and where the output went."""
    if not args.stream and not args.out:
        raise ValueError("--out is required (where to write the converted audio).")
    if args.out:
        audio.check_output(args.out)  # before the conversion, not after it
    source = audio.load(args.source, require_speech=True, max_seconds=convert.MAX_SOURCE_SECONDS, role="source")
    target = voices.resolve_reference(args.target, role="target")
    if args.stream:
        from lab import streaming

        payload = streaming.simulate(source, target, args.engine or convert.DEFAULT_ENGINE, args.chunk_ms)
        streamed = payload.pop("audio", None)
        if args.out and streamed is not None:
            audio.save(streamed, args.out)
            payload["out"] = args.out
    else:
        result = convert.convert(source, target, args.engine or convert.DEFAULT_FILE_ENGINE)
        audio.save(result.audio, args.out)
        payload = {"out": args.out, "engine": result.model["used"], "requested_engine": result.model["requested"],
                   "fallback_reason": result.model["fallback_reason"], "duration_s": result.audio.duration,
                   "sample_rate": result.audio.sample_rate, "seconds": result.seconds, "rtf": result.rtf,
                   "model": result.model, **result.extra}
    jsonable.emit(payload, args.json)
    return 0

