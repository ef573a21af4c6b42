"""Duty-room broker accounts over REST: admins within their own subtree only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.app import create_app
from server.settings import Settings
from shouwang.mosquitto import Mosquitto
from tests.server.conftest import SECRET
from tests.server.srv_support import T0, FakeClock, Running, TestClient

ROOT = ("admin", "Admin-Password-2026")
T03_ADMIN = ("admin-t03", "Township-Admin-2026!")


@pytest.fixture
def api(db_url: str, broker: Mosquitto, seed_file: Path, tmp_path: Path) -> Iterator[Running]:
    settings = Settings(
        db_url=db_url,
        mqtt_url=broker.url,
        secret=SECRET,
        admin_password=ROOT[1],
        deadline_interval=0,
        seed_file=seed_file,
        mqtt_auth_dir=tmp_path / "broker-auth",
    )
    clock = FakeClock()
    with TestClient(create_app(settings, clock=clock)) as client:
        running = Running(client, settings, broker, clock)
        made = client.post(
            "/api/v1/users",
            headers=running.token(*ROOT),
            json={"username": T03_ADMIN[0], "password": T03_ADMIN[1], "role": "admin", "region": "c01/t03"},
        )
        assert made.status_code == 201, made.text
        yield running


def _issue(api: Running, who: tuple[str, str], region: str | None) -> tuple[int, dict[str, object]]:
    resp = api.client.post("/api/v1/broker-accounts/duty", headers=api.token(*who), json={"region": region})
    return resp.status_code, resp.json()


def test_township_admin_issues_duty_accounts_inside_its_subtree(api: Running) -> None:
    status, body = _issue(api, T03_ADMIN, "c01/t03/v12")
    assert status == 200
    assert (body["username"], body["topic"], len(str(body["password"]))) == (
        "duty.c01.t03.v12",
        "sw/v1/duty/c01/t03/v12/#",
        32,
    )
    passwd = (api.settings.mqtt_auth_dir or Path()).joinpath("passwd").read_text()
    assert passwd.startswith("duty.c01.t03.v12:$7$101$")
    listed = api.client.get("/api/v1/broker-accounts", headers=api.token(*T03_ADMIN)).json()
    assert listed == {
        "items": [
            {
                "username": "duty.c01.t03.v12",
                "kind": "duty",
                "region": "c01/t03/v12",
                "topic": "sw/v1/duty/c01/t03/v12/#",
                "issued_at": T0.isoformat().replace("+00:00", "Z"),
                "issued_by": "admin-t03",
            }
        ],
        "total": 1,
        "limit": 100,
        "offset": 0,
    }


@pytest.mark.parametrize(
    ("who", "region", "status", "reason"),
    [
        (T03_ADMIN, "c01/t05", 404, "not_found"),  # another township does not exist for it
        (T03_ADMIN, "c01", 404, "not_found"),  # nor does the county above it
        (T03_ADMIN, "c01/t99", 404, "not_found"),
        (T03_ADMIN, None, 403, "forbidden"),  # the whole tree
        (("duty-c01", "Correct-Horse-77"), "c01/t03", 403, "forbidden"),  # not an admin
    ],
)
def test_duty_accounts_outside_the_callers_reach_are_refused(
    api: Running, who: tuple[str, str], region: str | None, status: int, reason: str
) -> None:
    got_status, body = _issue(api, who, region)
    assert (got_status, body["reason"]) == (status, reason)


def test_root_admin_sees_everything_a_township_admin_only_its_own(api: Running) -> None:
    assert _issue(api, ROOT, None)[0] == 200
    assert _issue(api, ROOT, "c01/t05")[0] == 200
    assert _issue(api, T03_ADMIN, "c01/t03")[0] == 200

    def names(who: tuple[str, str]) -> list[str]:
        page = api.client.get("/api/v1/broker-accounts", headers=api.token(*who)).json()
        return [item["username"] for item in page["items"]]

    assert names(ROOT) == ["duty._all", "duty.c01.t03", "duty.c01.t05"]
    assert names(T03_ADMIN) == ["duty.c01.t03"]


def test_revoke_within_the_subtree(api: Running) -> None:
    assert _issue(api, ROOT, "c01/t05")[0] == 200
    assert _issue(api, T03_ADMIN, "c01/t03")[0] == 200
    t03 = api.token(*T03_ADMIN)
    other = api.client.delete("/api/v1/broker-accounts/duty.c01.t05", headers=t03)
    assert (other.status_code, other.json()["reason"]) == (404, "not_found")
    assert api.client.delete("/api/v1/broker-accounts/duty.c01.t03", headers=t03).status_code == 204
    again = api.client.delete("/api/v1/broker-accounts/duty.c01.t03", headers=t03)
    assert again.status_code == 404
    passwd = (api.settings.mqtt_auth_dir or Path()).joinpath("passwd").read_text()
    assert [line.split(":")[0] for line in passwd.splitlines()] == ["duty.c01.t05"]


def test_reissue_gives_a_new_password(api: Running) -> None:
    api.clock.now = datetime(2026, 12, 1, tzinfo=UTC)
    first, second = _issue(api, T03_ADMIN, "c01/t03")[1], _issue(api, T03_ADMIN, "c01/t03")[1]
    assert first["username"] == second["username"] and first["password"] != second["password"]
