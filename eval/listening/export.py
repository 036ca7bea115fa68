"""Exports of a test: raw votes with their randomisation, and the analysis, as CSV and JSON.

CSV cells that a spreadsheet would run as a formula are prefixed with an
apostrophe (lab.spreadsheet), so a rater's comment cannot execute.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy import select

from eval.listening import report
from eval.listening.database import Database
from eval.listening.schema import SLOTS, Assignment, Clip, Item, Vote, iso_utc
from lab.jsonable import to_jsonable
from lab.spreadsheet import formula_safe

ANALYSIS_SECTIONS = ("pairs", "bradley_terry", "mos", "cmos", "raters", "correlations")


def vote_rows(db: Database, test_id: str, flagged: set[str]) -> list[dict]:
    """One dict per vote: who, what item, which system was shown on which side, when each clip finished
    playing, the answer, timings and comment."""
    with db.read() as session:
        clips = {c.id: c for c in session.scalars(select(Clip).where(Clip.test_id == test_id))}
        items = {i.id: i for i in session.scalars(select(Item).where(Item.test_id == test_id))}
        votes = session.scalars(select(Vote).where(Vote.test_id == test_id).order_by(Vote.id)).all()
        plays = {a.id: a for a in session.scalars(select(Assignment).where(Assignment.test_id == test_id))}
    rows = []
    for v in votes:
        item = items[v.item_id]
        a, b = clips[item.clip_a_id], clips.get(item.clip_b_id)
        name_a = a.system if a.role == "output" else a.role
        name_b = (b.system if b.role == "output" else b.role) if b else ""
        shown_a, shown_b = (name_b, name_a) if v.swapped else (name_a, name_b)
        preferred = {"A": shown_a, "B": shown_b, "tie": "tie"}.get(v.choice or "", "")
        rows.append({"test_id": test_id, "vote_id": v.id, "rater": v.rater_id, "rater_flagged": v.rater_id in flagged,
                     "item_id": item.id, "item_kind": item.kind, "utterance_id": item.utterance_id,
                     "system_a": name_a, "system_b": name_b, "has_reference": item.prompt_clip_id is not None,
                     "position": v.position, "swapped": v.swapped, "shown_as_A": shown_a, "shown_as_B": shown_b,
                     "choice_as_shown": v.choice or "", "preferred_system": preferred,
                     "score_as_shown": v.score if v.score is not None else "",
                     "played_a": v.played_a, "played_b": v.played_b, "played_ref": v.played_ref,
                     **{f"played_{s}_at": iso_utc(getattr(plays[v.assignment_id], f"played_{s}")) for s in SLOTS},
                     "latency_ms": v.latency_ms if v.latency_ms is not None else "",
                     "created": iso_utc(v.created), "updated": iso_utc(v.updated),
                     "revisions": v.revisions, "comment": v.comment})
    return rows


def to_csv(rows: list[dict]) -> str:
    """CSV text of dict rows (union of their keys, in first-seen order), formula-safe."""
    fields: dict[str, None] = {}
    for row in rows:
        fields.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: formula_safe(v) for k, v in row.items()})
    return out.getvalue()


def analysis_rows(analysis: dict) -> list[dict]:
    """The analysis tables flattened into rows with a ``section`` column."""
    rows = []
    for section in ANALYSIS_SECTIONS:
        table = analysis.get(section)
        if isinstance(table, dict):  # Bradley-Terry: its per-system table
            table = table.get("systems", [])
        rows += [{"section": section, **row} for row in table or []]
    return rows


def render(db: Database, test_id: str, name: str, analysis: dict | None = None) -> str:
    """Text of export ``name`` (votes.csv, votes.json, analysis.csv, analysis.json).

    ``analysis`` (from :func:`eval.listening.report.analyse_test`) is computed when not given.
    """
    if name.startswith("votes"):
        flagged = set(analysis["flagged_raters"]) if analysis else report.flagged_raters(db, test_id)
        rows = vote_rows(db, test_id, flagged)
        return to_csv(rows) if name.endswith(".csv") else json.dumps(to_jsonable(rows), indent=1)
    analysis = analysis or report.analyse_test(db, test_id)
    if name == "analysis.csv":
        return to_csv(analysis_rows(analysis))
    return json.dumps(to_jsonable(analysis), indent=2, allow_nan=False)


def export_all(db: Database, test_id: str, analysis: dict, out_dir: str | Path) -> list[Path]:
    """Write every export of a test into ``out_dir``; returns the files written."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("votes.csv", "votes.json", "analysis.csv", "analysis.json"):
        path = folder / f"{test_id}-{name}"
        path.write_text(render(db, test_id, name, analysis), encoding="utf-8")
        written.append(path)
    return written
