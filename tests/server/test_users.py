"""Users over REST: an admin creates and changes only the users of its own subtree.

The seed has a county (c01) with two townships (t03, t05); ``admin-t03`` is a township admin
made by the root admin. Every refused write is checked twice: the answer, and that nothing
changed (the victim still signs in with its own password, its role and region stand).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from server.db.engine import Database
from server.db.models import UserChange
from tests.server.srv_support import PASSWORD, T0, Running

ROOT = ("admin", "Admin-Password-2026")
T03_ADMIN = ("admin-t03", "Township-Admin-2026!")
T05_ADMIN = ("admin-t05", "Other-Township-2026!")
STAMP = T0.isoformat().replace("+00:00", "Z")
STRONG = "Quiet river, seven lanterns"


def _create(server: Running, who: tuple[str, str], body: dict[str, Any]) -> tuple[int, Any]:
    resp = server.client.post("/api/v1/users", headers=server.token(*who), json=body)
    return resp.status_code, resp.json()


def _patch(server: Running, who: tuple[str, str], name: str, body: dict[str, Any]) -> tuple[int, Any]:
    resp = server.client.patch("/api/v1/users/%s" % name, headers=server.token(*who), json=body)
    return resp.status_code, resp.json()


def _get(server: Running, who: tuple[str, str], path: str) -> tuple[int, Any]:
    resp = server.client.get("/api/v1/users" + path, headers=server.token(*who))
    return resp.status_code, resp.json()


def _signs_in(server: Running, name: str, password: str) -> bool:
    resp = server.client.post("/api/v1/auth/token", data={"username": name, "password": password})
    return resp.status_code == 200


def _user(server: Running, name: str) -> Any:
    status, body = _get(server, ROOT, "/" + name)
    assert status == 200, body
    return body


@pytest.fixture
def township(server: Running) -> Running:
    for (name, password), region in ((T03_ADMIN, "c01/t03"), (T05_ADMIN, "c01/t05")):
        status, body = _create(
            server, ROOT, {"username": name, "password": password, "role": "admin", "region": region}
        )
        assert status == 201, body
    return server


def test_a_township_admin_cannot_take_over_the_root_admin(township: Running) -> None:
    """The reported attack: POST /users with the root admin's name reset it to a viewer."""
    root_before = _user(township, "admin")
    status, body = _create(
        township,
        T03_ADMIN,
        {"username": "admin", "password": "Attacker-Chosen-2026", "role": "viewer", "region": "c01/t03"},
    )
    assert (status, body) == (409, {"detail": "user admin already exists", "reason": "user_exists"})
    not_found = {"detail": "user admin not found", "reason": "not_found"}
    assert _patch(township, T03_ADMIN, "admin", {"password": "Attacker-Chosen-2026"}) == (404, not_found)
    assert _patch(township, T03_ADMIN, "admin", {"role": "viewer"}) == (404, not_found)
    assert _get(township, T03_ADMIN, "/admin") == (404, not_found)
    assert _get(township, T03_ADMIN, "/admin/changes") == (404, not_found)
    assert (
        _user(township, "admin")
        == root_before
        == {
            "id": root_before["id"],
            "username": "admin",
            "role": "admin",
            "region": None,
            "active": True,
        }
    )
    assert _signs_in(township, *ROOT)
    assert not _signs_in(township, "admin", "Attacker-Chosen-2026")


def test_a_township_admin_cannot_take_over_another_townships_users(township: Running) -> None:
    victim = _user(township, "duty-t05")
    status, body = _create(
        township,
        T03_ADMIN,
        {"username": "duty-t05", "password": "Attacker-Chosen-2026", "role": "viewer", "region": "c01/t03"},
    )
    assert (status, body) == (409, {"detail": "user duty-t05 already exists", "reason": "user_exists"})
    for change in ({"password": "Attacker-Chosen-2026"}, {"region": "c01/t03"}, {"active": False}):
        assert _patch(township, T03_ADMIN, "duty-t05", change) == (
            404,
            {"detail": "user duty-t05 not found", "reason": "not_found"},
        )
    # Nor the county's officer above it, nor the peer township's admin.
    for name in ("duty-c01", T05_ADMIN[0]):
        assert _patch(township, T03_ADMIN, name, {"password": "Attacker-Chosen-2026"})[0] == 404
    assert _user(township, "duty-t05") == victim
    assert _signs_in(township, "duty-t05", PASSWORD)
    assert _signs_in(township, *T05_ADMIN)


def test_a_user_is_created_inside_the_admins_subtree_only(township: Running) -> None:
    status, made = _create(
        township,
        T03_ADMIN,
        {"username": "grid-g4", "password": STRONG, "role": "grid_worker", "region": "c01/t03/v12/g4"},
    )
    assert (status, made) == (
        201,
        {
            "id": made["id"],
            "username": "grid-g4",
            "role": "grid_worker",
            "region": "c01/t03/v12/g4",
            "active": True,
        },
    )
    assert _signs_in(township, "grid-g4", STRONG)
    # Another township's region, the county above, a region that does not exist: all unknown.
    for region in ("c01/t05", "c01", "c01/t09"):
        status, body = _create(
            township,
            T03_ADMIN,
            {"username": "x-user", "password": STRONG, "role": "viewer", "region": region},
        )
        assert (status, body) == (
            422,
            {"detail": "unknown region %r" % region, "reason": "unknown_region"},
        )
    # The whole tree is wider than a township.
    status, body = _create(township, T03_ADMIN, {"username": "x-user", "password": STRONG, "role": "admin"})
    assert (status, body) == (
        403,
        {
            "detail": "only an admin of the whole tree may give a user the whole tree",
            "reason": "outside_scope",
        },
    )
    assert _get(township, ROOT, "/x-user")[0] == 404


def test_a_name_that_exists_anywhere_is_a_conflict_not_an_update(township: Running) -> None:
    before = _user(township, "duty-t03")
    status, body = _create(
        township, ROOT, {"username": "duty-t03", "password": STRONG, "role": "viewer", "region": "c01/t03"}
    )
    assert (status, body) == (409, {"detail": "user duty-t03 already exists", "reason": "user_exists"})
    assert _user(township, "duty-t03") == before
    assert _signs_in(township, "duty-t03", PASSWORD)


def test_a_user_is_changed_with_patch_inside_the_subtree(township: Running) -> None:
    before = _user(township, "viewer-t03")
    township.clock.advance(5)
    status, body = _patch(
        township,
        T03_ADMIN,
        "viewer-t03",
        {"role": "duty_officer", "region": "c01/t03/v12", "password": STRONG},
    )
    assert (status, body) == (
        200,
        {
            "id": before["id"],
            "username": "viewer-t03",
            "role": "duty_officer",
            "region": "c01/t03/v12",
            "active": True,
        },
    )
    assert _signs_in(township, "viewer-t03", STRONG)
    assert not _signs_in(township, "viewer-t03", PASSWORD)
    # Disabling takes effect at once, and the user is still there to enable again.
    assert _patch(township, T03_ADMIN, "viewer-t03", {"active": False})[1]["active"] is False
    assert not _signs_in(township, "viewer-t03", STRONG)
    assert _patch(township, T03_ADMIN, "viewer-t03", {"active": True})[1]["active"] is True
    assert _signs_in(township, "viewer-t03", STRONG)


def test_a_change_may_not_move_a_user_out_of_the_subtree(township: Running) -> None:
    before = _user(township, "viewer-t03")
    for region in ("c01/t05", "c01"):
        assert _patch(township, T03_ADMIN, "viewer-t03", {"region": region}) == (
            422,
            {"detail": "unknown region %r" % region, "reason": "unknown_region"},
        )
    assert _patch(township, T03_ADMIN, "viewer-t03", {"region": None}) == (
        403,
        {
            "detail": "only an admin of the whole tree may give a user the whole tree",
            "reason": "outside_scope",
        },
    )
    # Nor widen its own scope.
    assert _patch(township, T03_ADMIN, T03_ADMIN[0], {"region": "c01"})[0] == 422
    assert _patch(township, T03_ADMIN, T03_ADMIN[0], {"region": None})[0] == 403
    assert _user(township, "viewer-t03") == before
    assert _user(township, T03_ADMIN[0])["region"] == "c01/t03"


def test_a_weak_password_changes_nothing(township: Running) -> None:
    status, body = _patch(township, T03_ADMIN, "viewer-t03", {"password": "password1234", "role": "admin"})
    assert (status, body["reason"]) == (422, "weak_password")
    assert _user(township, "viewer-t03")["role"] == "viewer"
    assert _signs_in(township, "viewer-t03", PASSWORD)
    status, changes = _get(township, ROOT, "/viewer-t03/changes")
    assert (status, [(c["actor"], c["action"]) for c in changes]) == (200, [("system", "create")])


def test_a_patch_with_unknown_fields_or_bad_values_is_refused(township: Running) -> None:
    assert _patch(township, T03_ADMIN, "viewer-t03", {"username": "renamed"})[0] == 422
    assert _patch(township, T03_ADMIN, "viewer-t03", {"role": "superuser"})[0] == 422
    assert _patch(township, T03_ADMIN, "viewer-t03", {"active": None})[0] == 422
    assert _user(township, "viewer-t03")["username"] == "viewer-t03"


def test_only_admins_manage_users(township: Running) -> None:
    forbidden = (403, {"detail": "only an admin may change this", "reason": "forbidden"})
    duty = ("duty-t03", PASSWORD)
    assert (
        _create(
            township, duty, {"username": "x-user", "password": STRONG, "role": "viewer", "region": "c01/t03"}
        )
        == forbidden
    )
    assert _patch(township, duty, "viewer-t03", {"role": "admin"}) == forbidden
    assert _patch(township, duty, "duty-t03", {"role": "admin"}) == forbidden
    for path in ("", "/viewer-t03", "/viewer-t03/changes"):
        assert _get(township, duty, path) == forbidden
    assert _user(township, "duty-t03")["role"] == "duty_officer"


def test_users_are_listed_and_read_within_the_subtree(township: Running) -> None:
    status, page = _get(township, T03_ADMIN, "")
    assert status == 200
    assert [u["username"] for u in page["items"]] == ["admin-t03", "duty-t03", "viewer-t03"]
    assert _get(township, T03_ADMIN, "/duty-t03")[1] == _user(township, "duty-t03")
    assert _get(township, T03_ADMIN, "/nobody") == (
        404,
        {"detail": "user nobody not found", "reason": "not_found"},
    )


def test_every_create_and_change_is_audited_without_the_password(township: Running) -> None:
    _create(
        township,
        T03_ADMIN,
        {"username": "staff-dc", "password": STRONG, "role": "station_staff", "region": "c01/t03/v12"},
    )
    township.clock.advance(60)
    _patch(township, T03_ADMIN, "staff-dc", {"password": "Another quiet river, nine lanterns"})
    township.clock.advance(60)
    _patch(township, T03_ADMIN, "staff-dc", {"role": "grid_worker", "active": False, "region": "c01/t03/v12"})
    township.clock.advance(60)
    # Nothing changes: nothing to record.
    _patch(township, T03_ADMIN, "staff-dc", {"role": "grid_worker"})
    status, changes = _get(township, T03_ADMIN, "/staff-dc/changes")
    assert status == 200
    assert changes == [
        {
            "at": STAMP,
            "actor": "admin-t03",
            "action": "create",
            "changes": {
                "role": {"from": None, "to": "station_staff"},
                "region": {"from": None, "to": "c01/t03/v12"},
                "active": {"from": None, "to": True},
                "password": "set",
            },
        },
        {
            "at": "2026-11-23T08:01:00.301000Z",
            "actor": "admin-t03",
            "action": "change",
            "changes": {"password": "changed"},
        },
        {
            "at": "2026-11-23T08:02:00.301000Z",
            "actor": "admin-t03",
            "action": "change",
            "changes": {
                "role": {"from": "station_staff", "to": "grid_worker"},
                "active": {"from": True, "to": False},
            },
        },
    ]
    assert STRONG not in str(changes) and "lanterns" not in str(changes)
    # The root admin sees the same trail; the other township does not see the user at all.
    assert _get(township, ROOT, "/staff-dc/changes") == (200, changes)
    assert _get(township, T05_ADMIN, "/staff-dc/changes")[0] == 404


def test_the_first_admin_and_the_seed_are_audited_as_the_system(township: Running) -> None:
    status, changes = _get(township, ROOT, "/duty-t03/changes")
    assert status == 200
    assert [(c["actor"], c["action"]) for c in changes] == [("system", "create")]
    assert changes[0]["changes"]["region"] == {"from": None, "to": "c01/t03"}
    assert _get(township, ROOT, "/admin/changes")[1][0]["changes"] == {
        "role": {"from": None, "to": "admin"},
        "region": {"from": None, "to": None},
        "active": {"from": None, "to": True},
        "password": "set",
    }


def test_the_user_audit_is_append_only(db: Database) -> None:
    with db.read() as s:
        before = [(c.id, c.actor, c.action, c.changes) for c in s.scalars(select(UserChange))]
    assert [(actor, action) for _, actor, action, _ in before] == [("system", "create")] * 4
    for statement in ("UPDATE user_changes SET actor = 'someone else'", "DELETE FROM user_changes"):
        with pytest.raises(DBAPIError, match="user_changes is append-only"), db.write() as s:
            s.execute(text(statement))
    with db.read() as s:
        assert [(c.id, c.actor, c.action, c.changes) for c in s.scalars(select(UserChange))] == before
