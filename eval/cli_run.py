"""`python -m eval run MANIFEST --out DIR`: batch evaluation into results, summary and reports.

Exit status: 0 when the run finished (error rows are counted on stderr and
listed in the reports), 2 when the manifest or the output folder cannot be
used (nothing was scored).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``run`` and its options."""
    p = sub.add_parser("run", help="score every utterance of a manifest; write results.jsonl, summary.csv, reports",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", type=Path, help="CSV or JSONL with id, system, audio [, reference, prompt, text]")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--metrics", type=_names, default=None, help="comma-separated metric names (default: all)")
    p.add_argument("--workers", type=_positive, default=1, help="scoring processes (default 1)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--systems", type=_names, default=None, help="comma-separated system names the manifest may use")
    p.add_argument("--asr", default=None, help="ASR model name (python -m lab models)")
    p.add_argument("--speaker", default=None, help="speaker-encoder model name")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run the batch evaluation and write the reports; returns the exit status."""
    from eval import provenance, runner
    from eval.manifest import ManifestError
    from eval.metrics import Scorer
    from eval.results_log import ResultsLogError

    factory = functools.partial(Scorer, asr=args.asr, speaker=args.speaker)
    try:
        outcome = runner.run(args.manifest, args.out, metrics=args.metrics, workers=args.workers,
                             resume=args.resume, systems=args.systems, scorer_factory=factory,
                             command=["python", "-m", "eval", *sys.argv[1:]], show_progress=not args.no_progress)
    except (ManifestError, runner.RunError, ResultsLogError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from eval import report  # matplotlib and scipy: imported after scoring, so the workers start sooner

    info = provenance.read_json(outcome.out_dir / runner.RUN_FILE)
    paths = report.write_reports(outcome.out_dir, outcome.rows, info, outcome.audio_paths)
    print(f"{len(outcome.rows)} rows ({outcome.resumed} resumed, {outcome.scored} scored in {outcome.seconds:.1f} s, "
          f"{outcome.error_rows} could not be scored)", file=sys.stderr)
    for path in (outcome.out_dir / runner.RESULTS_FILE, *paths.values()):
        print(path)
    return 0


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated names")
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
