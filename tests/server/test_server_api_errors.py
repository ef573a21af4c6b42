"""The error answers of server/api/errors.py: each error class, and database errors raised by a
real SQLite database, come back in the one shape with their status."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from server.api.errors import install_error_handlers
from server.errors import AuthError, Conflict, Forbidden, Invalid, NotFound, ServerError, Unavailable
from tests.server.srv_support import TestClient


def _app(db_file: Path) -> FastAPI:
    engine = create_engine("sqlite:///%s" % db_file)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k TEXT PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t VALUES ('a')"))
    app = FastAPI()
    install_error_handlers(app)
    errors: dict[str, ServerError] = {
        "auth": AuthError("a bearer token is required", reason="no_token"),
        "forbidden": Forbidden("only an admin may change this"),
        "missing": NotFound("case 7 not found"),
        "conflict": Conflict("cannot accept a case that is accepted", reason="illegal_transition"),
        "invalid": Invalid("lat and lon go together", reason="bad_location"),
        "down": Unavailable("database unavailable", reason="db_unavailable"),
        "bare": ServerError(reason="server_error"),
    }

    @app.get("/raise/{name}")
    def raise_(name: str) -> None:
        raise errors[name]

    @app.get("/duplicate")
    def duplicate() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES ('a')"))

    @app.get("/gone")
    def gone() -> None:
        with engine.begin() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))

    return app


@pytest.mark.parametrize(
    ("name", "status", "body"),
    [
        ("auth", 401, {"detail": "a bearer token is required", "reason": "no_token"}),
        ("forbidden", 403, {"detail": "only an admin may change this", "reason": "forbidden"}),
        ("missing", 404, {"detail": "case 7 not found", "reason": "not_found"}),
        (
            "conflict",
            409,
            {"detail": "cannot accept a case that is accepted", "reason": "illegal_transition"},
        ),
        ("invalid", 422, {"detail": "lat and lon go together", "reason": "bad_location"}),
        ("down", 503, {"detail": "database unavailable", "reason": "db_unavailable"}),
        ("bare", 500, {"detail": "server_error", "reason": "server_error"}),
    ],
)
def test_each_error_class_has_its_status(
    tmp_path: Path, name: str, status: int, body: dict[str, str]
) -> None:
    with TestClient(_app(tmp_path / "e.db")) as client:
        resp = client.get("/raise/" + name)
    assert (resp.status_code, resp.json()) == (status, body)
    assert resp.headers.get("WWW-Authenticate") == ("Bearer" if status == 401 else None)


def test_database_errors_are_translated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(_app(tmp_path / "e.db")) as client:
        lost_race = client.get("/duplicate")
        down = client.get("/gone")
    assert (lost_race.status_code, lost_race.json()) == (
        409,
        {"detail": "conflicting change, try again", "reason": "db_conflict"},
    )
    assert (down.status_code, down.json()) == (
        503,
        {"detail": "database unavailable", "reason": "db_unavailable"},
    )
    assert "GET /duplicate: UNIQUE constraint failed: t.k" in caplog.text
    assert "GET /gone: database unavailable: no such table: no_such_table" in caplog.text
