"""The listening-test database schema (SQLAlchemy 2 ORM).

One table per thing a reviewer may need to audit later: the test, its audio
clips, the items raters judge, the raters, each rater's randomised assignment
and the votes. Uniqueness constraints make every vote idempotent: a rater has
at most one vote per item, so a retried request can never duplicate it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

KINDS = ("ab", "mos", "smos", "cmos")
PAIR_KINDS = ("ab", "cmos")
ITEM_KINDS = ("normal", "attention_identical", "attention_degraded")
SLOTS = ("a", "b", "ref")


def utc_now() -> datetime:
    """Timezone-aware current time (UTC)."""
    return datetime.now(UTC)


def iso_utc(moment: datetime | None) -> str:
    """ISO 8601 text of a stored time, marked as UTC (SQLite returns naive datetimes); "" for None."""
    if moment is None:
        return ""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


class Base(DeclarativeBase):
    """Declarative base of the listening schema."""


class ListeningTest(Base):
    """A listening test: its kind, question, owner credential and where its stimuli came from."""

    __tablename__ = "listening_tests"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    question: Mapped[str] = mapped_column(Text)
    owner_token_hash: Mapped[str] = mapped_column(String(64))
    allow_tie: Mapped[bool] = mapped_column(Boolean, default=True)
    items_per_rater: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source: Mapped[dict] = mapped_column(JSON)
    audio_dir: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Clip(Base):
    """One loudness-matched audio file owned by a test (a system's output, a prompt, or a degraded copy)."""

    __tablename__ = "listening_clips"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    test_id: Mapped[str] = mapped_column(ForeignKey("listening_tests.id"), index=True)
    utterance_id: Mapped[str] = mapped_column(String(200))
    system: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # output | prompt | degraded
    filename: Mapped[str] = mapped_column(String(64))  # file name inside the test's audio_dir (server-chosen)
    duration: Mapped[float] = mapped_column(Float)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)


class Item(Base):
    """What a rater judges: one clip (MOS) or a pair (A/B, CMOS), optionally with a reference prompt."""

    __tablename__ = "listening_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    test_id: Mapped[str] = mapped_column(ForeignKey("listening_tests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24), default="normal")
    utterance_id: Mapped[str] = mapped_column(String(200))
    clip_a_id: Mapped[int] = mapped_column(ForeignKey("listening_clips.id"))
    clip_b_id: Mapped[int | None] = mapped_column(ForeignKey("listening_clips.id"), nullable=True)
    prompt_clip_id: Mapped[int | None] = mapped_column(ForeignKey("listening_clips.id"), nullable=True)
    expected: Mapped[str | None] = mapped_column(String(16), nullable=True)  # attention checks: what passes


class Rater(Base):
    """A rater identity issued by the server: public id plus a secret stored only as a hash."""

    __tablename__ = "listening_raters"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    test_id: Mapped[str] = mapped_column(ForeignKey("listening_tests.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class Assignment(Base):
    """One item in one rater's randomised sequence: its position, A/B side swap and play reports."""

    __tablename__ = "listening_assignments"
    __table_args__ = (UniqueConstraint("rater_id", "item_id"), UniqueConstraint("rater_id", "position"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)  # opaque id the rater's browser uses
    test_id: Mapped[str] = mapped_column(ForeignKey("listening_tests.id"), index=True)
    rater_id: Mapped[str] = mapped_column(ForeignKey("listening_raters.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("listening_items.id"))
    position: Mapped[int] = mapped_column(Integer)
    swapped: Mapped[bool] = mapped_column(Boolean, default=False)  # True: clip_b is shown as "A"
    played_a: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    played_b: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    played_ref: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Vote(Base):
    """A rater's judgement of one item, in the terms the rater saw (shown side) plus the randomisation."""

    __tablename__ = "listening_votes"
    __table_args__ = (UniqueConstraint("test_id", "rater_id", "item_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    test_id: Mapped[str] = mapped_column(ForeignKey("listening_tests.id"), index=True)
    rater_id: Mapped[str] = mapped_column(ForeignKey("listening_raters.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("listening_items.id"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("listening_assignments.id"))
    choice: Mapped[str | None] = mapped_column(String(8), nullable=True)  # A/B tests: "A", "B" or "tie" as shown
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)  # MOS 1..5, CMOS -3..3 (B relative to A shown)
    position: Mapped[int] = mapped_column(Integer)
    swapped: Mapped[bool] = mapped_column(Boolean)
    played_a: Mapped[bool] = mapped_column(Boolean)
    played_b: Mapped[bool] = mapped_column(Boolean)
    played_ref: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revisions: Mapped[int] = mapped_column(Integer, default=0)
