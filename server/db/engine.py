"""Engine and sessions for SQLite (WAL, one writer) and PostgreSQL."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from server.settings import sqlite_file

log = logging.getLogger(__name__)

READONLY = "sw_readonly"


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; SQLAlchemy would pick psycopg2."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        db_file = sqlite_file(url)
        if db_file is not None:
            keep_private(db_file)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def keep_private(db_file: Path) -> None:
    """The database holds password hashes and people's contacts: mode 0600. SQLite gives its
    -wal and -shm files the mode of the database file, so creating that one 0600 is enough."""
    db_file.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(db_file, os.O_WRONLY | os.O_CREAT, 0o600))
    for path in (db_file, *(db_file.with_name(db_file.name + s) for s in ("-wal", "-shm"))):
        try:
            mode = path.stat().st_mode
            if mode & 0o077:
                path.chmod(0o600)
                log.warning("%s was readable by others (mode %o); it is 0600 now", path, mode & 0o777)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("%s is readable by others and not ours to change: chmod 600 it", path)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: two deferred transactions that both read and then
        # write would deadlock, and SQLite answers that with SQLITE_BUSY instead of waiting.
        if conn.get_execution_options().get(READONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass
class Database:
    engine: Engine
    writer: sessionmaker[Session]
    reader: sessionmaker[Session]

    @classmethod
    def open(cls, url: str) -> Database:
        engine = make_engine(url)
        return cls(
            engine=engine,
            writer=sessionmaker(engine, expire_on_commit=False),
            reader=sessionmaker(engine.execution_options(**{READONLY: True}), expire_on_commit=False),
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception."""
        with self.writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.reader() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()
