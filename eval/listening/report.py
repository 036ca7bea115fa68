"""Owner-side view of a test: token check, votes loaded from the database, the full analysis as a dict.

The dict is JSON-ready (NaN becomes None) and is what the results API, the
results page, the CLI and the exports all show, so every view states the same
numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict

from sqlalchemy import select

from eval.listening import analysis, tokens
from eval.listening.analysis import VoteRecord
from eval.listening.database import Database
from eval.listening.schema import Clip, Item, ListeningTest, Rater, Vote, iso_utc
from lab.jsonable import to_jsonable

TIE_RULE = ("Ties are excluded from the preference rate, Wilson CI and binomial test and reported separately; "
            "'preference_x_ties_split' counts each tie as half a vote for each side. Bradley-Terry counts a tie "
            "as half a win for each side.")
FLAG_RULE = ("A rater is flagged when they fail at least one attention check: an identical pair not judged "
             "'no preference' (A/B) or |CMOS| > 1; a degraded clip not judged worse (A/B, CMOS < 0) or rated above "
             "2 (MOS) / 3 (SMOS).")
INTERVAL_RULE = ("95% intervals. MOS/CMOS: 'ci_low'/'ci_high' are a two-way percentile bootstrap resampling raters "
                 "and items (primary); 't_ci_*' a Student-t interval over all ratings. Bradley-Terry: percentile "
                 "bootstrap over raters. Preferences: Wilson score interval and exact two-sided binomial test.")


def owner_allowed(db: Database, test_id: str, token: str) -> bool:
    """True when ``token`` is the owner token of ``test_id`` (constant-time; False for unknown tests)."""
    with db.read() as session:
        test = session.get(ListeningTest, test_id)
        return test is not None and tokens.secret_matches(token, test.owner_token_hash)


def load_records(db: Database, test_id: str) -> tuple[ListeningTest, list[VoteRecord], dict, list[dict], dict]:
    """(test, oriented vote records, clip id -> Clip, comments, counts of items and registered raters)."""
    with db.read() as session:
        test = session.get(ListeningTest, test_id)
        clips = {c.id: c for c in session.scalars(select(Clip).where(Clip.test_id == test_id))}
        items = {i.id: i for i in session.scalars(select(Item).where(Item.test_id == test_id))}
        votes = session.scalars(select(Vote).where(Vote.test_id == test_id).order_by(Vote.id)).all()
        raters = session.scalars(select(Rater.id).where(Rater.test_id == test_id)).all()
    records, comments = [], []
    for v in votes:
        item = items[v.item_id]
        a, b = clips[item.clip_a_id], clips.get(item.clip_b_id)
        preferred = None
        if v.choice in ("A", "B"):
            preferred = "a" if (v.choice == "A") != v.swapped else "b"
        elif v.choice == "tie":
            preferred = "tie"
        score = -v.score if (v.score is not None and test.kind == "cmos" and v.swapped) else v.score
        system_b = (b.system if b.role == "output" else "degraded") if b else None
        records.append(VoteRecord(v.rater_id, item.id, item.kind, item.utterance_id, a.system, system_b,
                                  preferred, score, item.expected))
        if v.comment:
            comments.append({"rater": v.rater_id, "utterance_id": item.utterance_id, "item_kind": item.kind,
                             "systems": [a.system] + ([system_b] if system_b else []), "comment": v.comment})
    return test, records, clips, comments, {"items": len(items), "raters_registered": len(raters)}


def _rater_table(records: list[VoteRecord], kind: str) -> list[dict]:
    per: dict[str, dict] = defaultdict(lambda: {"votes": 0, "attention_checks": 0, "attention_failed": 0})
    for r in records:
        row = per[r.rater]
        row["votes"] += 1
        if r.item_kind != "normal":
            row["attention_checks"] += 1
            row["attention_failed"] += analysis.attention_failed(r, kind)
    agreement = analysis.rater_agreement([r for r in records if r.item_kind == "normal"], kind)
    return [{"rater": rater, **row, "flagged": row["attention_failed"] >= 1,
             "agreement": agreement.get(rater, (math.nan, 0))[0], "agreement_n": agreement.get(rater, (math.nan, 0))[1]}
            for rater, row in sorted(per.items())]


def _listening_by_item(records: list[VoteRecord], kind: str) -> dict[int, float]:
    """Per-item listening score: A/B -> share preferring b minus share preferring a; CMOS/MOS -> mean score."""
    scores: dict[int, list[float]] = defaultdict(list)
    for r in records:
        scores[r.item_id].append({"a": -1.0, "b": 1.0}.get(r.preferred, 0.0) if kind == "ab" else float(r.score))
    return {item: sum(v) / len(v) for item, v in scores.items()}


def _summaries(records: list[VoteRecord], kind: str) -> dict:
    normal = [r for r in records if r.item_kind == "normal"]
    out: dict = {"votes_analysed": len(normal)}
    if kind == "ab":
        out["pairs"] = analysis.pair_preferences(normal)
        systems = {r.system_a for r in normal} | {r.system_b for r in normal}
        out["bradley_terry"] = analysis.bradley_terry_ci(normal) if len(systems) > 2 else None
    elif kind == "cmos":
        out["cmos"] = analysis.cmos_by_pair(normal)
    else:
        out["mos"] = analysis.mos_by_system(normal)
    return out


def _correlations(records: list[VoteRecord], kind: str, clips: dict, items_by_id: dict) -> list[dict]:
    """Listening score per normal item vs the objective metrics of the same clips (difference b - a for pairs)."""
    per_item = _listening_by_item([r for r in records if r.item_kind == "normal"], kind)
    metrics = {}
    for item_id in per_item:
        a_id, b_id = items_by_id[item_id]
        a, b = clips[a_id].metrics, clips[b_id].metrics if b_id else None
        metrics[item_id] = {m: b[m] - a[m] for m in a if m in b} if b is not None else dict(a)
    return analysis.correlate(per_item, metrics)


def flagged_raters(db: Database, test_id: str) -> set[str]:
    """Raters of a test who failed at least one attention check."""
    test, records, *_ = load_records(db, test_id)
    return {row["rater"] for row in _rater_table(records, test.kind) if row["flagged"]}


def analyse_test(db: Database, test_id: str, exclude_flagged: bool = False) -> dict:
    """The full analysis of a test (JSON-ready): summaries, raters, correlations, comments, exclusion effect."""
    test, records, clips, comments, counts = load_records(db, test_id)
    raters = _rater_table(records, test.kind)
    flagged = {r["rater"] for r in raters if r["flagged"]}
    kept = [r for r in records if r.rater not in flagged] if exclude_flagged else records
    with db.read() as session:
        items_by_id = {i.id: (i.clip_a_id, i.clip_b_id) for i in session.scalars(select(Item).where(
            Item.test_id == test_id))}
    result = {
        "test": {"id": test.id, "kind": test.kind, "question": test.question, "created": iso_utc(test.created),
                 "source": test.source, **counts,
                 "raters_voted": len(raters), "votes": len(records), "allow_tie": test.allow_tie},
        "rules": {"ties": TIE_RULE, "flagging": FLAG_RULE, "intervals": INTERVAL_RULE},
        "excluded_flagged": exclude_flagged, "flagged_raters": sorted(flagged),
        "raters": raters, **_summaries(kept, test.kind),
        "correlations": _correlations(kept, test.kind, clips, items_by_id) if any(
            c.metrics for c in clips.values()) else [],
        "comments": comments,
    }
    if flagged:
        other = records if exclude_flagged else [r for r in records if r.rater not in flagged]
        result["exclusion_effect"] = {"other_view": "all raters" if exclude_flagged else "flagged raters excluded",
                                      **_summaries(other, test.kind)}
    return to_jsonable(result)
