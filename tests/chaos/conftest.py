"""Fixtures of the chaos suite: a server database per test (SQLite file or a fresh PostgreSQL
schema), Mosquitto on a free port, the server process seeded like the demo and a duty room."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shouwang.mosquitto import Mosquitto
from tests.chaos.secured import secured_broker
from tests.chaos.stack import ChaosStack, chaos_stack
from tests.databases import KINDS, database_url


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path, prefix="swchaos") as url:
        yield url


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
