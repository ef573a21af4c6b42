"""The SQLite file holds password hashes and contacts: only the server's user may read it."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from server.db.engine import Database
from server.db.migrate import upgrade
from server.seed import apply_seed
from tests.server.conftest import SEED


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}


def test_database_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    db = Database.open("sqlite:///%s" % (tmp_path / "data" / "server.db"))
    try:
        upgrade(db.engine)
        with db.write() as s:
            apply_seed(s, SEED)
        assert _modes(tmp_path / "data") == {
            "server.db": 0o600,
            "server.db-wal": 0o600,
            "server.db-shm": 0o600,
        }
    finally:
        db.close()


def test_an_existing_readable_database_is_closed_to_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "server.db"
    db = Database.open("sqlite:///%s" % path)
    upgrade(db.engine)
    db.close()
    path.chmod(0o644)
    caplog.set_level(logging.WARNING, logger="server.db.engine")
    db = Database.open("sqlite:///%s" % path)
    try:
        with db.read() as s:
            assert s.connection().exec_driver_sql("SELECT count(*) FROM users").scalar() == 0
        assert _modes(tmp_path)["server.db"] == 0o600
        assert caplog.messages == ["%s was readable by others (mode 644); it is 0600 now" % path]
    finally:
        db.close()
