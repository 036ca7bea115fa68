"""`python -m eval listen create|results|export`: listening tests from a terminal.

``create`` prints the test id, the rater link path and the owner token (shown
once: it is stored only as a hash). ``results`` and ``export`` need that token.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval.listening.schema import KINDS

SHOWN = ("pairs", "bradley_terry", "mos", "cmos", "raters", "correlations")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``listen`` with its create, results and export subcommands."""
    listen = sub.add_parser("listen", help="blind A/B, MOS, SMOS and CMOS listening tests")
    actions = listen.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a test from an eval run folder or a zip + manifest")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-run", type=Path, help="`eval run` output folder (results.jsonl)")
    source.add_argument("--zip", type=Path, help="zip with manifest.csv/jsonl (id, system, audio[, prompt])")
    create.add_argument("--kind", choices=KINDS, required=True)
    create.add_argument("--question", required=True, help="the question raters answer")
    create.add_argument("--audio-root", type=Path, help="folder that relative audio paths of the run are under")
    create.add_argument("--no-tie", action="store_true", help="A/B: do not offer 'no preference'")
    create.add_argument("--items-per-rater", type=int, help="normal items per rater (default: all)")
    for parser in (create, results := actions.add_parser("results", help="analysis of a test (owner token)"),
                   export := actions.add_parser("export", help="write votes and analysis as CSV and JSON")):
        parser.add_argument("--db", help="database URL (default: env VOICELAB_LISTENING_DB or data/listening.db)")
    for parser in (results, export):
        parser.add_argument("test", help="test id")
        parser.add_argument("--token", required=True, help="owner token printed by create")
        parser.add_argument("--exclude-flagged", action="store_true", help="leave out raters who failed checks")
    for parser in (create, results):
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    export.add_argument("--out", type=Path, required=True, help="folder to write the exports into")
    listen.set_defaults(func=run)


def _create(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from eval.listening import builder, sources
    from eval.listening.database import open_database

    if args.from_run:
        stimuli, origin = sources.from_run(args.from_run, args.audio_root), {"run": str(args.from_run.resolve())}
    else:
        if args.zip.stat().st_size > sources.MAX_UPLOAD_BYTES:
            raise sources.SourceError(f"{args.zip} is larger than {sources.MAX_UPLOAD_BYTES // 10**9} GB")
        stimuli, origin = sources.from_zip(args.zip.read_bytes()), {"zip": args.zip.name}
    created = builder.create_test(open_database(args.db), stimuli, args.kind, args.question,
                                  allow_tie=not args.no_tie, items_per_rater=args.items_per_rater, source=origin)
    if args.json:
        print(json.dumps(asdict(created)))
    else:
        print(f"test id:     {created.test_id}\nrater link:  {created.rater_path}\nowner token: {created.owner_token}"
              f"\nitems:       {created.n_items} (+{created.n_attention} attention checks), systems: "
              + ", ".join(created.systems) + "".join(f"\nwarning: {w}" for w in created.warnings))
    return 0


def _analysis(args: argparse.Namespace) -> tuple[object, dict] | None:
    from eval.listening import report
    from eval.listening.database import open_database

    db = open_database(args.db)
    if not report.owner_allowed(db, args.test, args.token):
        print(f"error: no test {args.test!r} with that owner token", file=sys.stderr)
        return None
    return db, report.analyse_test(db, args.test, exclude_flagged=args.exclude_flagged)


def format_text(analysis: dict) -> str:
    """A plain-text rendering of the analysis tables for the terminal."""
    test = analysis["test"]
    lines = [f"{test['kind']} test {test['id']}: {test['votes']} votes from {test['raters_voted']} raters; "
             f"flagged: {', '.join(analysis['flagged_raters']) or 'none'}"]
    for key in SHOWN:
        rows = analysis.get(key)
        rows = rows["systems"] if isinstance(rows, dict) else rows
        if rows:
            lines.append(f"\n[{key}]")
            lines.append("  ".join(rows[0]))
            lines += ["  ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()) for row in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the chosen listen action; returns the exit status (2 for bad input)."""
    from eval.listening.sources import SourceError

    try:
        if args.action == "create":
            return _create(args)
        found = _analysis(args)
        if found is None:
            return 2
        db, analysis = found
        if args.action == "results":
            print(json.dumps(analysis, allow_nan=False) if args.json else format_text(analysis))
            return 0
        from eval.listening.export import export_all

        for path in export_all(db, args.test, analysis, args.out):
            print(path)
        return 0
    except (SourceError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
