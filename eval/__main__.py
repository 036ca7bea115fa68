"""`python -m eval ...`: score audio, run batch evaluations, run listening tests.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from eval import cli_run, cli_score
from eval.listening import cli as cli_listen


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (cli_score, cli_run, cli_listen):
        module.add_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
