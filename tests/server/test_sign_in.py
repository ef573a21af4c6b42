"""Password rules, sign-in throttling (per user name and per address) and the sign-in audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from server.cli import main
from server.errors import ConfigError
from server.passwords import password_problem
from server.settings import Settings
from tests.server.conftest import SECRET
from tests.server.srv_support import PASSWORD, T0, Running

ROOT = ("admin", "Admin-Password-2026")
SHORT = "must be at least 12 characters"
TOO_EASY = "is too easy to guess (%s); use a longer phrase of unrelated words"


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("admin12345", SHORT),
        ("password12", SHORT),
        ("qwertyuiop", SHORT),
        ("admin12345678", TOO_EASY % "this is similar to a commonly used password"),
        ("password1234", TOO_EASY % "this is a very common password"),
        ("1qaz2wsx3edc", TOO_EASY % "this is a very common password"),
        ("zhao-duty-t03", TOO_EASY % "it follows a common pattern"),
        ("a" * 100, TOO_EASY % 'repeats like "aaa" are easy to guess'),
        ("Correct-Horse-77", None),
        ("两只黄鹂鸣翠柳一行白鹭上青天", None),
        ("tea kettle under the old bridge " * 4, None),  # longer than zxcvbn looks
    ],
)
def test_password_rules(password: str, problem: str | None) -> None:
    assert password_problem(password, ("zhao-duty-t03",)) == problem


def _sign_in(api: Running, username: str, password: str) -> tuple[int, dict[str, object], str | None]:
    resp = api.client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return resp.status_code, resp.json(), resp.headers.get("retry-after")


BAD = (401, {"detail": "wrong username or password", "reason": "bad_credentials"}, None)


def _locked(seconds: int) -> tuple[int, dict[str, object], str]:
    detail = "too many failed sign-ins; try again in %d s" % seconds
    return 429, {"detail": detail, "reason": "too_many_attempts"}, str(seconds)


@pytest.mark.parametrize("weak", ["admin12345", "password12", "qwertyuiop", "password1234"])
def test_weak_passwords_are_refused_over_rest(server: Running, weak: str) -> None:
    resp = server.client.post(
        "/api/v1/users",
        headers=server.token(*ROOT),
        json={"username": "viewer-x", "password": weak, "role": "viewer", "region": "c01/t03"},
    )
    assert (resp.status_code, resp.json()) == (
        422,
        {"detail": "password of viewer-x %s" % password_problem(weak), "reason": "weak_password"},
    )


@pytest.mark.parametrize("weak", ["admin12345", "password12", "qwertyuiop", "password1234"])
def test_weak_admin_password_stops_the_start(weak: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.load({"SHOUWANG_SECRET": SECRET, "SHOUWANG_ADMIN_PASSWORD": weak})
    assert str(err.value) == "SHOUWANG_ADMIN_PASSWORD %s" % password_problem(weak)


def test_weak_password_in_a_seed_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text('{"users": [{"username": "u1", "password": "password1234", "role": "viewer"}]}')
    assert main(["seed", str(seed), "--db", "sqlite:///%s" % (tmp_path / "x.db")]) == 2
    assert capsys.readouterr().err == "shouwang server: password of u1 %s\n" % password_problem(
        "password1234"
    )


def test_user_name_locks_after_five_failures_for_doubling_times(server: Running) -> None:
    for _ in range(5):
        assert _sign_in(server, "duty-t03", "wrong password") == BAD
    assert _sign_in(server, "duty-t03", PASSWORD) == _locked(30)  # even the right password
    server.clock.advance(29.5)
    assert _sign_in(server, "duty-t03", PASSWORD) == _locked(1)
    server.clock.advance(0.5)
    assert _sign_in(server, "duty-t03", "wrong password") == BAD
    assert _sign_in(server, "duty-t03", PASSWORD) == _locked(60)
    assert _sign_in(server, "duty-t05", PASSWORD)[0] == 200  # another name is not affected
    server.clock.advance(60)
    assert _sign_in(server, "duty-t03", PASSWORD)[0] == 200
    # A success starts the count again.
    assert _sign_in(server, "duty-t03", "wrong password") == BAD
    assert _sign_in(server, "duty-t03", PASSWORD)[0] == 200


def test_address_locks_after_ten_failures_on_any_names(server: Running) -> None:
    for i in range(10):
        assert _sign_in(server, "nobody-%d" % i, "wrong password") == BAD
    assert _sign_in(server, "duty-t03", PASSWORD) == _locked(30)
    server.clock.advance(30)
    assert _sign_in(server, "duty-t03", PASSWORD)[0] == 200


def test_lock_lasts_at_most_fifteen_minutes(server: Running) -> None:
    for _ in range(5):
        assert _sign_in(server, "duty-t03", "wrong password") == BAD
    for seconds in (30, 60, 120, 240, 480, 900, 900):
        server.clock.advance(seconds)
        assert _sign_in(server, "duty-t03", "wrong password") == BAD
    assert _sign_in(server, "duty-t03", "wrong password") == _locked(900)


def _audit(server: Running, who: tuple[str, str], query: str = "") -> tuple[int, object]:
    resp = server.client.get("/api/v1/sign-ins" + query, headers=server.token(*who))
    return resp.status_code, resp.json()


def test_every_attempt_is_audited_and_read_within_scope(server: Running) -> None:
    made = server.client.post(
        "/api/v1/users",
        headers=server.token(*ROOT),
        json={
            "username": "admin-t03",
            "password": "Township-Admin-2026!",
            "role": "admin",
            "region": "c01/t03",
        },
    )
    assert made.status_code == 201
    server.clock.advance(1)
    assert _sign_in(server, "duty-t05", "wrong password") == BAD
    assert _sign_in(server, "ghost", "wrong password") == BAD
    for _ in range(5):
        assert _sign_in(server, "viewer-t03", "wrong password") == BAD
    for _ in range(3):  # only the first refused attempt of a lock is written down
        assert _sign_in(server, "viewer-t03", PASSWORD) == _locked(30)
    t03_admin = ("admin-t03", "Township-Admin-2026!")
    status, page = _audit(server, t03_admin)
    at = (T0.replace(second=1)).isoformat().replace("+00:00", "Z")
    t03_rows = [
        {"at": at, "username": "admin-t03", "region": "c01/t03", "address": "testclient", "result": "ok"},
        {
            "at": at,
            "username": "viewer-t03",
            "region": "c01/t03",
            "address": "testclient",
            "result": "throttled",
        },
    ] + [
        {
            "at": at,
            "username": "viewer-t03",
            "region": "c01/t03",
            "address": "testclient",
            "result": "bad_password",
        }
    ] * 5
    assert status == 200
    assert isinstance(page, dict)
    assert page == {"items": t03_rows, "total": 7, "limit": 100, "offset": 0}
    status, page = _audit(server, ROOT, "?result=unknown_user")
    assert (status, page) == (
        200,
        {
            "items": [
                {
                    "at": at,
                    "username": "ghost",
                    "region": None,
                    "address": "testclient",
                    "result": "unknown_user",
                }
            ],
            "total": 1,
            "limit": 100,
            "offset": 0,
        },
    )
    status, page = _audit(server, ROOT, "?username=duty-t05")
    assert status == 200 and isinstance(page, dict)
    assert [(i["region"], i["result"]) for i in page["items"]] == [("c01/t05", "bad_password")]
    assert _audit(server, ("duty-c01", PASSWORD))[0] == 403


def test_sign_in_audit_is_append_only(server: Running) -> None:
    assert _sign_in(server, "ghost", "wrong password") == BAD
    db = server.services.db
    for statement in ("UPDATE sign_ins SET result = 'ok'", "DELETE FROM sign_ins"):
        with pytest.raises(DBAPIError, match="sign_ins is append-only"), db.write() as s:
            s.execute(text(statement))
