"""The rater side of a test: identities, randomised assignments, play reports and votes.

A rater is identified by a server-issued id plus a secret (stored hashed);
every request must carry both, so a rater id alone cannot be used to write
another rater's votes. Items are addressed by per-rater opaque assignment
keys, checked against the authenticated rater. A vote is accepted only after
the client has reported every clip of the item as played to the end, and is
committed before the caller returns "saved". The (test, rater, item)
uniqueness makes retries idempotent; changing a vote needs ``update=True``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eval.listening import tokens
from eval.listening.database import Database
from eval.listening.schema import SLOTS, Assignment, Clip, Item, ListeningTest, Rater, Vote, utc_now

MAX_COMMENT_CHARS = 2000
MAX_RATERS_PER_TEST = 10_000  # a shared link is public: bound what anonymous registrations can add
SCORE_RANGES = {"mos": (1, 5), "smos": (1, 5), "cmos": (-3, 3)}
_system_random = random.SystemRandom()


class RatingError(Exception):
    """A rejected rater request; ``status`` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class VoteOutcome:
    """Result of a vote request: "saved" (new), "unchanged" (identical retry) or "updated"."""

    status: str
    answered: int
    total: int


@dataclass(frozen=True)
class TestInfo:
    """The parts of a test a rater request needs (tests never change after creation)."""

    kind: str
    question: str
    allow_tie: bool


def _test(session: Session, test_id: str) -> ListeningTest:
    test = session.get(ListeningTest, test_id)
    if test is None:
        raise RatingError(404, "No such listening test. Check the link.")
    return test


# Tests, items and raters are immutable once written, so hot request paths cache them per process
# (misses raise and are not cached); only assignments and votes are read inside each transaction.
@lru_cache(maxsize=4096)
def _test_info(db: Database, test_id: str) -> TestInfo:
    with db.read() as session:
        test = _test(session, test_id)
        return TestInfo(test.kind, test.question, test.allow_tie)


@lru_cache(maxsize=200_000)
def _item_slots(db: Database, item_id: int) -> tuple[str, ...]:
    with db.read() as session:
        item = session.get(Item, item_id)
        return ("a",) + (("b",) if item.clip_b_id else ()) + (("ref",) if item.prompt_clip_id else ())


@lru_cache(maxsize=200_000)
def _rater_record(db: Database, rater_id: str) -> tuple[str, str, int]:
    """(test id, secret hash, number of assigned items) of a rater; RatingError(403) when unknown."""
    with db.read() as session:
        rater = session.get(Rater, rater_id)
        if rater is None:
            raise RatingError(403, "Unknown rater or wrong rater secret.")
        total = session.scalar(select(func.count()).select_from(Assignment).where(Assignment.rater_id == rater_id))
        return rater.test_id, rater.secret_hash, total


def register_rater(db: Database, test_id: str, user_agent: str = "") -> tuple[str, str]:
    """Create a rater with a freshly randomised item order and A/B sides.

    Returns:
        (rater_id, rater_secret); the secret is not stored in clear and cannot be recovered.
    """
    rater_id, secret = tokens.new_id(12), tokens.new_secret()
    with db.write() as session:
        test = _test(session, test_id)
        registered = session.scalar(select(func.count()).select_from(Rater).where(Rater.test_id == test_id))
        if registered >= MAX_RATERS_PER_TEST:
            raise RatingError(429, "This test has reached its maximum number of raters.")
        items = session.scalars(select(Item).where(Item.test_id == test_id)).all()
        normal = [i for i in items if i.kind == "normal"]
        if test.items_per_rater and test.items_per_rater < len(normal):
            normal = _least_assigned(session, test_id, normal, test.items_per_rater)
        chosen = normal + [i for i in items if i.kind != "normal"]
        _system_random.shuffle(chosen)
        session.add(Rater(id=rater_id, test_id=test_id, secret_hash=tokens.hash_secret(secret),
                          user_agent=user_agent[:300]))
        session.flush()
        session.add_all([Assignment(key=tokens.new_id(12), test_id=test_id, rater_id=rater_id, item_id=item.id,
                                    position=position, swapped=bool(item.clip_b_id) and _system_random.random() < 0.5)
                         for position, item in enumerate(chosen)])
    return rater_id, secret


def _least_assigned(session: Session, test_id: str, items: list[Item], count: int) -> list[Item]:
    """Balanced subset: the items assigned to the fewest raters so far (random among equals)."""
    counts = Counter(dict(session.execute(
        select(Assignment.item_id, func.count()).where(Assignment.test_id == test_id).group_by(Assignment.item_id)
    ).all()))
    return sorted(items, key=lambda i: (counts[i.id], _system_random.random()))[:count]


def authenticate(db: Database, test_id: str, rater_id: str | None, secret: str | None) -> int:
    """Check that ``secret`` belongs to rater ``rater_id`` of ``test_id``; returns their number of items.

    Raises:
        RatingError: 403 for an unknown rater, another test's rater or a wrong secret.
    """
    if not rater_id or len(rater_id) > 64:
        raise RatingError(403, "Unknown rater or wrong rater secret.")
    rater_test, secret_hash, total = _rater_record(db, rater_id)
    if rater_test != test_id or not tokens.secret_matches(secret, secret_hash):
        raise RatingError(403, "Unknown rater or wrong rater secret.")
    return total


def _assignment(session: Session, rater_id: str, key: str) -> Assignment:
    assignment = session.scalar(select(Assignment).where(Assignment.key == key))
    if assignment is None or assignment.rater_id != rater_id:
        raise RatingError(404, "This item is not in your assignment.")
    return assignment


def next_item(db: Database, test_id: str, rater_id: str, secret: str) -> dict:
    """Progress and the first unanswered item of the rater's sequence (``item`` is None when done)."""
    test = _test_info(db, test_id)
    total = authenticate(db, test_id, rater_id, secret)
    with db.read() as session:
        answered = session.scalar(select(func.count()).select_from(Vote).where(Vote.rater_id == rater_id))
        assignment = session.scalar(
            select(Assignment).outerjoin(Vote, Vote.assignment_id == Assignment.id)
            .where(Assignment.rater_id == rater_id, Vote.id.is_(None)).order_by(Assignment.position).limit(1))
    state = {"kind": test.kind, "question": test.question, "allow_tie": test.allow_tie,
             "scale": SCORE_RANGES.get(test.kind), "answered": answered, "total": total, "item": None}
    if assignment is not None:
        slots = list(_item_slots(db, assignment.item_id))
        played = {"a": assignment.played_a, "b": assignment.played_b, "ref": assignment.played_ref}
        state["item"] = {"key": assignment.key, "position": assignment.position + 1, "slots": slots,
                         "audio": {s: f"/listen/api/audio/{assignment.key}/{s}" for s in slots},
                         "played": {s: played[s] is not None for s in slots}}
    return state


def clip_for(db: Database, key: str, slot: str) -> tuple[str, str]:
    """(test audio folder, file name) of the clip shown in ``slot`` of assignment ``key``.

    The opaque assignment key is the capability: it reveals neither system nor clip identity.
    """
    if slot not in SLOTS:
        raise RatingError(404, "No such clip.")
    with db.read() as session:
        assignment = session.scalar(select(Assignment).where(Assignment.key == key))
        if assignment is None:
            raise RatingError(404, "No such clip.")
        item, test = session.get(Item, assignment.item_id), session.get(ListeningTest, assignment.test_id)
        shown = {"a": item.clip_b_id if assignment.swapped else item.clip_a_id,
                 "b": item.clip_a_id if assignment.swapped else item.clip_b_id, "ref": item.prompt_clip_id}[slot]
        if shown is None:
            raise RatingError(404, "No such clip.")
        return test.audio_dir, session.get(Clip, shown).filename


def record_play(db: Database, test_id: str, rater_id: str, secret: str, key: str, slot: str) -> dict:
    """Record that the rater played ``slot`` of item ``key`` to the end; returns the item's played flags."""
    authenticate(db, test_id, rater_id, secret)
    with db.write(durable=False) as session:
        assignment = _assignment(session, rater_id, key)
        slots = _item_slots(db, assignment.item_id)
        if slot not in slots:
            raise RatingError(422, f"Item has no clip {slot!r}.")
        column = f"played_{slot}"
        if getattr(assignment, column) is None:
            setattr(assignment, column, utc_now())
        return {s: getattr(assignment, f"played_{s}") is not None for s in slots}


def _validated(test: TestInfo, choice: str | None, score: int | None) -> tuple[str | None, int | None]:
    if test.kind == "ab":
        allowed = ("A", "B", "tie") if test.allow_tie else ("A", "B")
        if choice not in allowed:
            raise RatingError(422, f"choice must be one of {', '.join(allowed)}.")
        return choice, None
    low, high = SCORE_RANGES[test.kind]
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise RatingError(422, f"score must be an integer from {low} to {high}.")
    return None, score


def cast_vote(db: Database, test_id: str, rater_id: str, secret: str, key: str, *, choice: str | None = None,
              score: int | None = None, comment: str = "", latency_ms: float | None = None,
              update: bool = False) -> VoteOutcome:
    """Validate and durably store a vote (committed before returning).

    Raises:
        RatingError: 403 wrong secret, 404 item not assigned, 409 clips not played or a different vote
            exists without ``update``, 422 invalid choice/score.
    """
    comment = (comment or "")[:MAX_COMMENT_CHARS]
    if latency_ms is not None and not (isinstance(latency_ms, int | float) and 0 <= latency_ms < 1e8):
        latency_ms = None
    for attempt in range(2):  # a concurrent identical insert on PostgreSQL: retry once, it then sees the row
        try:
            return _store_vote(db, test_id, rater_id, secret, key, choice, score, comment, latency_ms, update)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _store_vote(db: Database, test_id: str, rater_id: str, secret: str, key: str, choice: str | None,
                score: int | None, comment: str, latency_ms: float | None, update: bool) -> VoteOutcome:
    test = _test_info(db, test_id)
    total = authenticate(db, test_id, rater_id, secret)
    choice, score = _validated(test, choice, score)
    with db.write() as session:
        assignment = _assignment(session, rater_id, key)
        slots = _item_slots(db, assignment.item_id)
        missing = [s for s in slots if getattr(assignment, f"played_{s}") is None]
        if missing:
            raise RatingError(409, "Play every clip to the end before voting (not yet played: "
                              + ", ".join(s.upper() if s != "ref" else "reference" for s in missing) + ").")
        existing = session.scalar(select(Vote).where(Vote.rater_id == rater_id, Vote.item_id == assignment.item_id))
        status = "saved"
        if existing is None:
            session.add(Vote(test_id=test_id, rater_id=rater_id, item_id=assignment.item_id,
                             assignment_id=assignment.id, choice=choice, score=score, position=assignment.position,
                             swapped=assignment.swapped, played_a=True, played_b="b" in slots,
                             played_ref="ref" in slots, latency_ms=latency_ms, comment=comment))
        elif (existing.choice, existing.score, existing.comment) == (choice, score, comment):
            status = "unchanged"
        elif update:
            existing.choice, existing.score, existing.comment = choice, score, comment
            existing.updated, existing.revisions = utc_now(), existing.revisions + 1
            status = "updated"
        else:
            raise RatingError(409, "You already voted on this item; send update=true to change your vote.")
        session.flush()
        answered = session.scalar(select(func.count()).select_from(Vote).where(Vote.rater_id == rater_id))
    return VoteOutcome(status, answered, total)
