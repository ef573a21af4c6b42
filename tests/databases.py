"""The server's test databases: a SQLite file, or a PostgreSQL schema of its own per use, so
parallel runs on the one database never meet."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

PG_URL = os.environ.get("SHOUWANG_TEST_POSTGRES_URL")
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]  # fixture params


def pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return "%s%soptions=-csearch_path%%3D%s" % (base, sep, schema)


@contextmanager
def database_url(kind: str, folder: Path, prefix: str = "swt") -> Iterator[str]:
    """A fresh, empty database of ``kind`` ("sqlite" in ``folder``, or "postgres"), dropped after."""
    if kind == "sqlite":
        yield "sqlite:///%s" % (folder / "server.db")
        return
    if not PG_URL:
        pytest.skip("SHOUWANG_TEST_POSTGRES_URL is not set")
    schema = "%s_%s" % (prefix, uuid.uuid4().hex[:12])
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "%s"' % schema)
    try:
        yield pg_schema_url(PG_URL, schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute('DROP SCHEMA "%s" CASCADE' % schema)
