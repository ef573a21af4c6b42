"""Fixtures of the chaos suite: a server database per test (SQLite file or a fresh PostgreSQL
schema), Mosquitto on a free port, the server process seeded like the demo and a duty room."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from shouwang.mosquitto import Mosquitto
from tests.chaos.secured import secured_broker
from tests.chaos.stack import ChaosStack, chaos_stack

PG_URL = os.environ.get("SHOUWANG_TEST_POSTGRES_URL")


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return "%s%soptions=-csearch_path%%3D%s" % (base, sep, schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite:///%s" % (tmp_path / "server.db")
        return
    if not PG_URL:
        pytest.skip("SHOUWANG_TEST_POSTGRES_URL is not set")
    schema = "swchaos_%s" % uuid.uuid4().hex[:12]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "%s"' % schema)
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute('DROP SCHEMA "%s" CASCADE' % schema)


@pytest.fixture
def server_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Extra environment of the server process; a scenario sets it with indirect parametrize."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def stack(tmp_path: Path, broker: Mosquitto, db_url: str, server_env: dict[str, str]) -> Iterator[ChaosStack]:
    with chaos_stack(tmp_path, broker, db_url, server_env) as st:
        yield st


@pytest.fixture
def secured_stack(tmp_path: Path, db_url: str) -> Iterator[ChaosStack]:
    """The same stack on a broker with an account per client (no anonymous access)."""
    with secured_broker(db_url) as (broker, logins):
        with chaos_stack(tmp_path, broker, db_url, logins=logins) as st:
            yield st
