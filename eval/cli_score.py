"""Placeholder for the `cli_score` subcommand until its issue lands."""

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand; it reports that it is not built yet."""
    p = sub.add_parser("score", help="not built yet")
    p.set_defaults(func=lambda _args: print("not built yet", file=sys.stderr) or 2)
