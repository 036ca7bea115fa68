"""Database connection for listening tests: durable SQLite by default, any SQLAlchemy URL otherwise.

SQLite runs in WAL mode with ``synchronous=FULL`` so a commit that has
returned survives a crash of the process or the machine, and write
transactions start with ``BEGIN IMMEDIATE`` so concurrent writers queue on the
busy timeout instead of failing with "database is locked". A PostgreSQL URL
(psycopg 3) uses the same ORM code for multi-replica deployments.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from eval.listening.schema import Base
from lab import paths

log = logging.getLogger(__name__)

ENV_URL = "VOICELAB_LISTENING_DB"
ENV_AUDIO = "VOICELAB_LISTENING_AUDIO"
BUSY_TIMEOUT_MS = 60_000


def default_url() -> str:
    """The database URL: env VOICELAB_LISTENING_DB, else SQLite at <data>/listening.db (lab.paths.data_root)."""
    return os.environ.get(ENV_URL) or f"sqlite:///{paths.data_root() / 'listening.db'}"


def data_root(url: str) -> Path:
    """Folder for test-owned audio: env VOICELAB_LISTENING_AUDIO (e.g. a volume shared by replicas),
    else next to a SQLite file, else <data>/listening_audio."""
    if os.environ.get(ENV_AUDIO):
        return Path(os.environ[ENV_AUDIO])
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///")).resolve().parent / "listening_audio"
    return paths.data_root() / "listening_audio"


def _sqlite_engine(url: str, immediate: bool, synchronous: str = "FULL") -> Engine:
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_size=16, max_overflow=48, pool_timeout=60,
                           connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (SQLAlchemy's documented pysqlite recipe)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@dataclass(frozen=True)
class Database:
    """Session factories for one database URL: ``write()`` for transactions that change data."""

    url: str
    _writer: sessionmaker[Session]
    _reader: sessionmaker[Session]
    _light_writer: sessionmaker[Session]
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def write(self, durable: bool = True) -> Iterator[Session]:
        """A session whose transaction is committed on normal exit, rolled back on error.

        ``durable=True`` (votes, tests, raters): the commit is on disk (fsynced) before this returns.
        ``durable=False`` (play reports) on SQLite skips the fsync (``synchronous=NORMAL``): the commit
        still survives a killed process, only a power loss may drop it, and the next durable commit
        syncs it too. With SQLite, writers of this process queue on a lock (first come, first served)
        rather than on SQLite's sleeping busy handler; other processes wait on the busy timeout.
        """
        lock = self._write_lock if self.url.startswith("sqlite") else nullcontext()
        factory = self._writer if durable else self._light_writer
        with lock, factory() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (never committed)."""
        with self._reader() as session:
            yield session

    @property
    def audio_root(self) -> Path:
        """Folder holding each test's audio folder."""
        return data_root(self.url)

    def integrity_check(self) -> str:
        """SQLite ``PRAGMA integrity_check`` result ("ok" when healthy); "n/a" for other databases."""
        if not self.url.startswith("sqlite"):
            return "n/a"
        with self.read() as session:
            return str(session.execute(text("PRAGMA integrity_check")).scalar())


def open_database(url: str | None = None) -> Database:
    """Connect to ``url`` (default: :func:`default_url`, read now) and create the schema if missing.

    Returns the same Database for the same URL within a process.
    """
    return _open(url or default_url())


@lru_cache(maxsize=16)
def _open(url: str) -> Database:
    if url.startswith("sqlite:///"):
        writer_engine, reader_engine = _sqlite_engine(url, True), _sqlite_engine(url, False)
        light_engine = _sqlite_engine(url, True, "NORMAL")
    else:
        writer_engine = reader_engine = light_engine = create_engine(url, pool_pre_ping=True, pool_size=16,
                                                                     max_overflow=32)
    Base.metadata.create_all(writer_engine)
    log.info("listening database ready at %s", url if url.startswith("sqlite") else url.split("@")[-1])
    return Database(url, *(sessionmaker(e, expire_on_commit=False) for e in (writer_engine, reader_engine,
                                                                             light_engine)))
