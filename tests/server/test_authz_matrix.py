"""Authorisation matrix: every route of /openapi.json x role x inside/outside the caller's
subtree x read/write, against one live server on real SQLite (and PostgreSQL when
``SHOUWANG_TEST_POSTGRES_URL`` is set).

The callers are one user per role, all scoped to township ``c01/t03``; *inside* addresses an
object of ``c01/t03``, *outside* the same kind of object in ``c01/t05``. The expected answer
follows from the route's entry in ``MATRIX``:

- no token: 401 (public routes answer everyone);
- a role the route is not for: 403;
- inside: the route's success status (a list holds the inside object);
- outside: 404, the object does not exist for the caller (a list never holds it), or, where
  the route creates something, the answer for a place that does not exist.

A route of /openapi.json without an entry fails the test, so a new route cannot ship without
deciding who may use it: add one line to ``MATRIX`` (``Entry`` says who, how to address an
inside and an outside object, and what success looks like). For example, a list and an
object of a new kind::

    ("GET", V + "/widgets"): listing(V + "/widgets", "id", "widget-in", "widget-out"),
    ("DELETE", V + "/widgets/{widget_id}"): Entry(
        ADMIN, lambda w, p: Call("DELETE", V + "/widgets/" + pick(p, "widget-in", "widget-out")), ok=204
    ),

A list may be JSON (a page's ``items``) or CSV (its header names the column); a stream of
server-sent events (``stream=True``) is read until the inside case's change arrives.
``World`` holds the objects on both sides (stations, gateways, devices, a case and a command
each, users, duty-room accounts); a route about a new kind of object adds its pair there.

``MOVES`` below the matrix holds the writes that would carry an object across the border of
the caller's subtree (pull another township's object in, push one of its own out, or place
it where a derived place falls outside): each is refused, and a read by the root admin
before and after shows that nothing changed.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from shouwang.mosquitto import Mosquitto, mosquitto_binary
from tests.conftest import TEST_BROKER_CONF
from tests.databases import KINDS, database_url
from tests.server.conftest import SECRET, SEED
from tests.server.live_support import Stream, serve
from tests.server.srv_support import PASSWORD, WAIT, FakeClock, FakeGateway, Watcher, ev

ROOT = ("admin", "Admin-Password-2026")
# One caller per role, all in township c01/t03 (duty-t03 and viewer-t03 come from the seed).
CALLERS = {
    "admin": "admin-t03",
    "duty_officer": "duty-t03",
    "grid_worker": "grid-t03",
    "station_staff": "staff-t03",
    "viewer": "viewer-t03",
    "anonymous": "",
}
ROLES = frozenset(CALLERS) - {"anonymous"}
ADMIN = frozenset({"admin"})
CASE_ACTORS = frozenset({"admin", "duty_officer", "grid_worker", "station_staff"})
COMMANDERS = frozenset({"admin", "duty_officer", "station_staff"})
# A grid of township c01/t05, far from c01/t03's grid (SQUARE), for point-in-polygon places.
FAR = {
    "type": "Polygon",
    "coordinates": [[[100.0, 30.0], [101.0, 30.0], [101.0, 31.0], [100.0, 31.0], [100.0, 30.0]]],
}
PERIOD = {"since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    form: dict[str, str] | None = None


@dataclass
class World:
    """One live server with objects on both sides of the border, and a token per caller."""

    base: str
    client: httpx.Client
    tokens: dict[str, str]
    region_ids: dict[str, int]
    cases: dict[str, int]
    commands: dict[str, str]
    rules: dict[str, int]
    names: Iterator[int] = field(default_factory=itertools.count)

    def send(self, call: Call, caller: str) -> Any:
        headers = {"Authorization": "Bearer " + self.tokens[caller]} if caller in self.tokens else {}
        return self.client.request(
            call.method, call.path, params=call.params, json=call.json, data=call.form, headers=headers
        )

    def root(self, call: Call) -> Any:
        return self.send(call, "root")


def pick(place: str, inside: Any, outside: Any) -> Any:
    return inside if place == "inside" else outside


@dataclass(frozen=True)
class Refused:
    status: int
    reason: str


NOT_FOUND = Refused(404, "not_found")


@dataclass(frozen=True)
class Listed:
    """A list route: the inside object is in the answer, the outside one never."""

    key: str
    inside: str
    outside: str


def listed(resp: Any, key: str) -> list[str]:
    """The ``key`` column of a list answer: a JSON page's items, or the rows of a CSV export."""
    if resp.headers.get("content-type", "").startswith("text/csv"):
        return [row[key] for row in csv.DictReader(io.StringIO(resp.text.removeprefix("\ufeff")))]
    return [item[key] for item in resp.json()["items"]]


@dataclass(frozen=True)
class Entry:
    roles: frozenset[str]  # who may use the route, inside their subtree
    call: Callable[[World, str], Call]  # the request for place "inside" or "outside"
    ok: int = 200
    outside: Refused | Listed | None = NOT_FOUND  # None: the route addresses no place
    shows: tuple[str, str] | None = None  # (field, value) an inside success answers with
    public: bool = False
    stream: bool = False  # server-sent events: read until the inside case's change arrives


def listing(
    path: str, key: str, inside: str, outside: str, roles: frozenset[str] = ROLES, **params: str
) -> Entry:
    return Entry(
        roles, lambda w, p: Call("GET", path, params=params or None), outside=Listed(key, inside, outside)
    )


def reading(
    path: Callable[[World, str], str], shows: tuple[str, str], roles: frozenset[str] = ROLES
) -> Entry:
    return Entry(roles, lambda w, p: Call("GET", path(w, p)), shows=shows)


def public(call: Call) -> Entry:
    return Entry(ROLES, lambda w, p: call, outside=None, public=True)


def _feature(path: str, name: str, level: str) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"path": path, "name": name, "level": level}, "geometry": None}


def _new_user(w: World, p: str) -> Call:
    body = {
        "username": "made-%d" % next(w.names),
        "password": PASSWORD,
        "role": "viewer",
        "region": pick(p, "c01/t03/v12", "c01/t05"),
    }
    return Call("POST", "/api/v1/users", json=body)


def _rule(place: str, name: str) -> dict[str, Any]:
    # Disabled: the rules are here to be read and changed, not to send anything.
    region = pick(place, "c01/t03", "c01/t05")
    return {"name": name, "region": region, "target": "json://127.0.0.1:9/%s" % name, "enabled": False}


def _delete_rule(w: World, p: str) -> Call:
    # A rule of its own for every run of this cell.
    made = w.root(Call("POST", V + "/notify-rules", json=_rule(p, "doomed-%d" % next(w.names))))
    assert made.status_code == 201, made.text
    return Call("DELETE", V + "/notify-rules/%d" % made.json()["id"])


def _revoke(w: World, p: str) -> Call:
    # Issued again first, so every run of this cell finds the account there to revoke.
    region = pick(p, "c01/t03", "c01/t05")
    issued = w.root(Call("POST", "/api/v1/broker-accounts/duty", json={"region": region}))
    assert issued.status_code == 200, issued.text
    return Call("DELETE", "/api/v1/broker-accounts/%s" % issued.json()["username"])


V = "/api/v1"
MATRIX: dict[tuple[str, str], Entry] = {
    ("POST", V + "/auth/token"): public(
        Call("POST", V + "/auth/token", form={"username": "viewer-t03", "password": PASSWORD})
    ),
    ("GET", "/healthz"): public(Call("GET", "/healthz")),
    ("GET", V + "/setup"): public(Call("GET", V + "/setup")),
    ("GET", "/metrics"): public(Call("GET", "/metrics")),
    # Regions.
    ("GET", V + "/regions"): listing(V + "/regions", "path", "c01/t03/v12", "c01/t05/v01"),
    ("GET", V + "/regions/locate"): Entry(
        ROLES,
        lambda w, p: Call(
            "GET",
            V + "/regions/locate",
            params=pick(p, {"lat": 34.1, "lon": 108.9}, {"lat": 30.5, "lon": 100.5}),
        ),
        shows=("path", "c01/t03/v12/g4"),
    ),
    ("GET", V + "/regions/{region_id}"): reading(
        lambda w, p: V + "/regions/%d" % w.region_ids[pick(p, "c01/t03/v12", "c01/t05/v01")],
        ("path", "c01/t03/v12"),
    ),
    ("POST", V + "/regions"): Entry(
        ADMIN,
        lambda w, p: Call(
            "POST",
            V + "/regions",
            json=pick(
                p,
                {"path": "c01/t03/v12", "name": "东村", "level": "village"},
                {"path": "c01/t05/v01", "name": "西村", "level": "village"},
            ),
        ),
        shows=("path", "c01/t03/v12"),
    ),
    ("POST", V + "/regions/import"): Entry(
        ADMIN,
        lambda w, p: Call(
            "POST",
            V + "/regions/import",
            json={
                "type": "FeatureCollection",
                "features": [
                    pick(
                        p,
                        _feature("c01/t03/v12", "东村", "village"),
                        _feature("c01/t05/v01", "西村", "village"),
                    )
                ],
            },
        ),
    ),
    # Stations.
    ("GET", V + "/stations"): listing(V + "/stations", "code", "st-dongcun", "st-xicun"),
    ("GET", V + "/stations/{code}"): reading(
        lambda w, p: V + "/stations/" + pick(p, "st-dongcun", "st-xicun"), ("code", "st-dongcun")
    ),
    ("PUT", V + "/stations/{code}"): Entry(
        ADMIN,
        lambda w, p: Call(
            "PUT", V + "/stations/" + pick(p, "st-dongcun", "st-xicun"), json={"name": "服务站"}
        ),
        shows=("code", "st-dongcun"),
    ),
    # Gateways, their broker credentials and commands.
    ("GET", V + "/gateways"): listing(V + "/gateways", "id", "gw-dongcun-01", "gw-xicun-01"),
    ("GET", V + "/gateways/{gateway_id}"): reading(
        lambda w, p: V + "/gateways/" + pick(p, "gw-dongcun-01", "gw-xicun-01"), ("id", "gw-dongcun-01")
    ),
    ("PUT", V + "/gateways/{gateway_id}"): Entry(
        ADMIN,
        lambda w, p: Call(
            "PUT", V + "/gateways/" + pick(p, "gw-dongcun-01", "gw-xicun-01"), json={"station": "st-dongcun"}
        ),
        shows=("station", "st-dongcun"),
    ),
    ("POST", V + "/gateways/{gateway_id}/credentials"): Entry(
        ADMIN,
        lambda w, p: Call("POST", V + "/gateways/%s/credentials" % pick(p, "gw-dongcun-01", "gw-xicun-01")),
        shows=("username", "gw-dongcun-01"),
    ),
    ("POST", V + "/gateways/{gateway_id}/commands"): Entry(
        COMMANDERS,
        lambda w, p: Call(
            "POST", V + "/gateways/%s/commands" % pick(p, "gw-dongcun-01", "gw-xicun-01"), json={"op": "ping"}
        ),
        shows=("gateway", "gw-dongcun-01"),
    ),
    # Staff PINs for a station's kiosk: set and removed by the admins over the station.
    ("PUT", V + "/gateways/{gateway_id}/pins/{name}"): Entry(
        ADMIN,
        lambda w, p: Call(
            "PUT",
            V + "/gateways/%s/pins/王芳" % pick(p, "gw-dongcun-01", "gw-xicun-01"),
            json={"pin": "805931"},
        ),
        ok=202,
        shows=("gateway", "gw-dongcun-01"),
    ),
    ("DELETE", V + "/gateways/{gateway_id}/pins/{name}"): Entry(
        ADMIN,
        lambda w, p: Call("DELETE", V + "/gateways/%s/pins/王芳" % pick(p, "gw-dongcun-01", "gw-xicun-01")),
        ok=202,
        shows=("op", "remove_pin"),
    ),
    ("GET", V + "/commands/{command_id}"): reading(
        lambda w, p: V + "/commands/" + w.commands[p], ("gateway", "gw-dongcun-01")
    ),
    # Devices.
    ("GET", V + "/devices"): listing(V + "/devices", "id", "sn-00a3", "sn-0b01"),
    ("GET", V + "/devices/{device_id}"): reading(
        lambda w, p: V + "/devices/" + pick(p, "sn-00a3", "sn-0b01"), ("id", "sn-00a3")
    ),
    ("PUT", V + "/devices/{device_id}"): Entry(
        ADMIN,
        lambda w, p: Call("PUT", V + "/devices/" + pick(p, "sn-00a3", "sn-0b01"), json={"name": "呼叫按钮"}),
        shows=("id", "sn-00a3"),
    ),
    # Users, the sign-in audit, duty-room broker accounts.
    ("GET", V + "/users"): listing(V + "/users", "username", "target-in", "target-out", ADMIN),
    ("POST", V + "/users"): Entry(
        ADMIN, _new_user, ok=201, outside=Refused(422, "unknown_region"), shows=("role", "viewer")
    ),
    ("GET", V + "/users/{username}"): reading(
        lambda w, p: V + "/users/" + pick(p, "target-in", "target-out"), ("username", "target-in"), ADMIN
    ),
    ("PATCH", V + "/users/{username}"): Entry(
        ADMIN,
        lambda w, p: Call("PATCH", V + "/users/" + pick(p, "target-in", "target-out"), json={"active": True}),
        shows=("username", "target-in"),
    ),
    ("GET", V + "/users/{username}/changes"): Entry(
        ADMIN, lambda w, p: Call("GET", V + "/users/%s/changes" % pick(p, "target-in", "target-out"))
    ),
    ("GET", V + "/sign-ins"): listing(V + "/sign-ins", "username", "duty-t03", "duty-t05", ADMIN),
    ("POST", V + "/broker-accounts/duty"): Entry(
        ADMIN,
        lambda w, p: Call(
            "POST", V + "/broker-accounts/duty", json={"region": pick(p, "c01/t03", "c01/t05")}
        ),
        shows=("username", "duty.c01.t03"),
    ),
    ("GET", V + "/broker-accounts"): listing(
        V + "/broker-accounts", "username", "duty.c01.t03.v12", "duty.c01.t05.v01", ADMIN
    ),
    ("DELETE", V + "/broker-accounts/{username}"): Entry(ADMIN, _revoke, ok=204),
    # Cases and events.
    ("GET", V + "/cases"): listing(V + "/cases", "device", "sn-00a3", "sn-0b01"),
    ("GET", V + "/cases/{case_id}"): reading(
        lambda w, p: V + "/cases/%d" % w.cases[p], ("device", "sn-00a3")
    ),
    ("POST", V + "/cases/{case_id}/actions"): Entry(
        CASE_ACTORS,
        lambda w, p: Call("POST", V + "/cases/%d/actions" % w.cases[p], json={"action": "supervise"}),
        shows=("device", "sn-00a3"),
    ),
    ("GET", V + "/cases/{case_id}/cap"): Entry(
        ROLES, lambda w, p: Call("GET", V + "/cases/%d/cap" % w.cases[p])
    ),
    ("GET", V + "/events"): listing(V + "/events", "device", "sn-00a3", "sn-0b01"),
    ("GET", V + "/stream"): Entry(ROLES, lambda w, p: Call("GET", V + "/stream"), stream=True),
    # What ingest kept aside: events for another gateway's device, unreadable payloads.
    ("GET", V + "/quarantine"): listing(
        V + "/quarantine", "id", "gw-unknown-9:7", "gw-unknown-9:8", ADMIN
    ),
    ("GET", V + "/dead-letters"): listing(
        V + "/dead-letters", "gateway", "gw-dongcun-01", "gw-xicun-01", ADMIN
    ),
    # Exports.
    ("GET", V + "/exports/cases.csv"): listing(
        V + "/exports/cases.csv", "Device id", "sn-00a3", "sn-0b01", lang="en"
    ),
    ("GET", V + "/exports/kpis.csv"): Entry(
        ROLES,
        lambda w, p: Call(
            "GET", V + "/exports/kpis.csv", params={**PERIOD, "region": pick(p, "c01/t03", "c01/t05")}
        ),
    ),
    # Notification rules.
    ("GET", V + "/notify-rules"): listing(V + "/notify-rules", "name", "rule-in", "rule-out", ADMIN),
    ("POST", V + "/notify-rules"): Entry(
        ADMIN,
        lambda w, p: Call("POST", V + "/notify-rules", json=_rule(p, "made-%d" % next(w.names))),
        ok=201,
        outside=Refused(422, "unknown_region"),
        shows=("region", "c01/t03"),
    ),
    ("PUT", V + "/notify-rules/{rule_id}"): Entry(
        ADMIN,
        lambda w, p: Call(
            "PUT", V + "/notify-rules/%d" % w.rules[p], json=_rule("inside", pick(p, "rule-in", "rule-out"))
        ),
        shows=("name", "rule-in"),
    ),
    ("DELETE", V + "/notify-rules/{rule_id}"): Entry(ADMIN, _delete_rule, ok=204),
    ("POST", V + "/notify-rules/{rule_id}/test"): Entry(
        ADMIN, lambda w, p: Call("POST", V + "/notify-rules/%d/test" % w.rules[p])
    ),
    ("GET", V + "/stats"): Entry(
        ROLES,
        lambda w, p: Call("GET", V + "/stats", params={**PERIOD, "region": pick(p, "c01/t03", "c01/t05")}),
    ),
}


def _spec_routes() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The operations of /openapi.json, and the API routes left out of it."""
    app = create_app(Settings(db_url="sqlite://", secret=SECRET))
    spec = app.openapi()
    listed = sorted((method.upper(), path) for path, ops in spec["paths"].items() for method in ops)
    hidden = sorted(
        (method, route.path)
        for route in app.routes
        if not getattr(route, "include_in_schema", True)
        for method in sorted(getattr(route, "methods", None) or ())
    )
    return listed, hidden


ROUTES, HIDDEN = _spec_routes()
# Routes left out of /openapi.json, all public: the console's pages (the data behind them
# comes from the API with the officer's token) and FastAPI's own API documentation. An API
# route hidden from the schema would escape the matrix, so the list is exact.
UNLISTED = sorted(
    [("GET", "/"), ("GET", "/console"), ("GET", "/console/"), ("GET", "/console/workflow.json")]
    + [(m, p) for p in ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc") for m in ("GET", "HEAD")]
)


def _cells() -> list[Any]:
    cells = []
    for route in ROUTES:
        entry = MATRIX.get(route)
        if entry is None:
            cells.append(pytest.param(route, "admin", "inside", id="%s %s: no entry" % route))
            continue
        kind = "read" if route[0] == "GET" else "write"
        for caller in CALLERS:
            places = ["inside"] if entry.outside is None or caller == "anonymous" else ["inside", "outside"]
            for place in places:
                cells.append(
                    pytest.param(route, caller, place, id="%s %s|%s|%s|%s" % (*route, caller, place, kind))
                )
    return cells


def test_every_route_has_an_entry_and_every_entry_a_route() -> None:
    assert sorted(MATRIX) == ROUTES
    assert HIDDEN == UNLISTED


# ---------------------------------------------------------------------------------------------
# The live server, once per database.


@pytest.fixture(scope="module", params=KINDS)
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database_url(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


def _ok(resp: Any) -> Any:
    assert resp.status_code < 300, resp.text
    return resp.json()


def _token(client: httpx.Client, username: str, password: str) -> str:
    body = _ok(client.post(V + "/auth/token", data={"username": username, "password": password}))
    return str(body["access_token"])


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # A broker per world: a server's persistent session stays in its broker's share group.
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed (.ci/run installs it)")
    with Mosquitto(tmp_path_factory.mktemp("broker"), template=TEST_BROKER_CONF) as broker:
        yield from _world(module_db_url, broker, tmp_path_factory)


def _world(db_url: str, broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    seed = tmp_path_factory.mktemp("seed") / "seed.json"
    seed.write_text(json.dumps(SEED, ensure_ascii=False), encoding="utf-8")
    settings = Settings(
        db_url=db_url,
        mqtt_url=broker.url,
        secret=SECRET,
        admin_password=ROOT[1],
        deadline_interval=0,
        mqtt_client_id="shouwang-matrix-%s" % uuid.uuid4().hex[:8],
        seed_file=seed,
    )
    # A real HTTP server (uvicorn on a loopback port), so the event stream is read as a browser does.
    with (
        serve(create_app(settings, clock=FakeClock())) as base,
        httpx.Client(base_url=base, timeout=WAIT) as client,
    ):
        root = _token(client, *ROOT)
        auth = {"Authorization": "Bearer " + root}
        for name, role, region in (
            ("admin-t03", "admin", "c01/t03"),
            ("grid-t03", "grid_worker", "c01/t03"),
            ("staff-t03", "station_staff", "c01/t03"),
            ("target-in", "viewer", "c01/t03/v12"),
            ("target-out", "viewer", "c01/t05"),
        ):
            body = {"username": name, "password": PASSWORD, "role": role, "region": region}
            _ok(client.post(V + "/users", headers=auth, json=body))
        grid = {"path": "c01/t05/v01/g1", "name": "第一网格", "level": "grid", "geometry": FAR}
        _ok(client.post(V + "/regions", headers=auth, json=grid))
        for region in ("c01/t03/v12", "c01/t05/v01"):
            _ok(client.post(V + "/broker-accounts/duty", headers=auth, json={"region": region}))
        commands = {
            place: _ok(client.post(V + "/gateways/%s/commands" % gw, headers=auth, json={"op": "ping"}))["id"]
            for place, gw in (("inside", "gw-dongcun-01"), ("outside", "gw-xicun-01"))
        }
        rules = {
            place: _ok(client.post(V + "/notify-rules", headers=auth, json=_rule(place, name)))["id"]
            for place, name in (("inside", "rule-in"), ("outside", "rule-out"))
        }
        watcher = Watcher(broker.url, ["sw/v1/gw/+/ack"])
        try:
            for gw, device in (("gw-dongcun-01", "sn-00a3"), ("gw-xicun-01", "sn-0b01")):
                sender = FakeGateway(broker.url, gw)
                try:
                    sender.send([ev(1, "panic", device=device, gateway=gw, device_seq=1)])
                    watcher.next("sw/v1/gw/%s/ack" % gw)
                    sender.send_raw(b"\xff unreadable")  # a dead letter of this gateway's region
                    sender.send([ev(2, "heartbeat", device=device, gateway=gw)])
                    watcher.next("sw/v1/gw/%s/ack" % gw)  # after the dead letter, in order
                finally:
                    sender.close()
            # A gateway of no station speaks for each station's device: quarantined, in the
            # device's region.
            stranger = FakeGateway(broker.url, "gw-unknown-9")
            try:
                stranger.send(
                    [
                        ev(7, "panic", device="sn-00a3", gateway="gw-unknown-9"),
                        ev(8, "panic", device="sn-0b01", gateway="gw-unknown-9"),
                    ]
                )
                watcher.next("sw/v1/gw/gw-unknown-9/ack")
            finally:
                stranger.close()
        finally:
            watcher.close()
        cases = {
            place: _ok(client.get(V + "/cases", headers=auth, params={"device": device}))["items"][0]["id"]
            for place, device in (("inside", "sn-00a3"), ("outside", "sn-0b01"))
        }
        regions = _ok(client.get(V + "/regions", headers=auth, params={"limit": 500}))["items"]
        tokens = {
            "root": root,
            **{role: _token(client, name, PASSWORD) for role, name in CALLERS.items() if name},
        }
        _token(client, "duty-t05", PASSWORD)  # a sign-in outside the callers' subtree
        yield World(base, client, tokens, {r["path"]: r["id"] for r in regions}, cases, commands, rules)


def _stream_shows_only_its_scope(world: World, caller: str, place: str) -> None:
    """The caller's stream opens, and carries the inside case's change; a change to the outside
    case, made first, never arrives (it would have come before the inside one)."""
    stream = Stream(world.base, world.tokens[caller])
    try:
        assert stream.status == 200
        assert stream.next().event == "ready"
        for where in ("outside", "inside") if place == "outside" else ("inside",):
            acted = world.root(
                Call("POST", V + "/cases/%d/actions" % world.cases[where], json={"action": "supervise"})
            )
            assert acted.status_code == 200, acted.text
        assert stream.case(world.cases["inside"]).data["case"]["device"] == "sn-00a3"
    finally:
        stream.close()
    assert b"sn-0b01" not in stream.raw and b"c01/t05" not in stream.raw


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(path)) + "$")


@pytest.mark.parametrize(("route", "caller", "place"), _cells())
def test_matrix(world: World, route: tuple[str, str], caller: str, place: str) -> None:
    entry = MATRIX.get(route)
    assert entry is not None, "%s %s has no entry in MATRIX: decide who may use it" % route
    call = entry.call(world, place)
    assert call.method == route[0] and _template(route[1]).match(call.path), (call, route)
    if entry.stream and caller in entry.roles:
        _stream_shows_only_its_scope(world, caller, place)
        return
    resp = world.send(call, caller)
    got = (resp.status_code, resp.json() if resp.content and resp.status_code >= 400 else None)
    if entry.public:
        assert resp.status_code == entry.ok, resp.text
    elif caller == "anonymous":
        assert got == (401, {"detail": "a bearer token is required", "reason": "no_token"})
    elif caller not in entry.roles:
        assert (got[0], got[1]["reason"] if got[1] else None) == (403, "forbidden"), resp.text
    elif place == "inside":
        assert resp.status_code == entry.ok, resp.text
        if isinstance(entry.outside, Listed):
            assert entry.outside.inside in listed(resp, entry.outside.key)
        if entry.shows is not None:
            assert resp.json()[entry.shows[0]] == entry.shows[1]
    elif isinstance(entry.outside, Listed):
        assert resp.status_code == 200, resp.text
        assert entry.outside.outside not in listed(resp, entry.outside.key)
    else:
        assert isinstance(entry.outside, Refused)
        assert (got[0], got[1]["reason"] if got[1] else None) == (entry.outside.status, entry.outside.reason)


# ---------------------------------------------------------------------------------------------
# Writes across the border: refused, and nothing changes.


@dataclass(frozen=True)
class Move:
    caller: str
    call: Call
    refused: Refused
    witness: Call  # read by the root admin before and after: the same answer both times


def _put(path: str, body: dict[str, Any]) -> Call:
    return Call("PUT", V + path, json=body)


GW_OUT, GW_IN = V + "/gateways/gw-xicun-01", V + "/gateways/gw-dongcun-01"
DEV_IN, DEV_OUT = V + "/devices/sn-00a3", V + "/devices/sn-0b01"
OUTSIDE_SCOPE = Refused(403, "outside_scope")
MOVES = {
    # Pull another township's gateway in, and push one's own out or nowhere.
    "pull a gateway to one's own station": Move(
        "admin", _put("/gateways/gw-xicun-01", {"station": "st-dongcun"}), NOT_FOUND, Call("GET", GW_OUT)
    ),
    "push a gateway to another township's station": Move(
        "admin",
        _put("/gateways/gw-dongcun-01", {"station": "st-xicun"}),
        Refused(422, "unknown_station"),
        Call("GET", GW_IN),
    ),
    "register a new gateway at another township's station": Move(
        "admin",
        _put("/gateways/gw-new-01", {"station": "st-xicun"}),
        Refused(422, "unknown_station"),
        Call("GET", V + "/gateways/gw-new-01"),
    ),
    "take a gateway off its station": Move(
        "admin", _put("/gateways/gw-dongcun-01", {"station": None}), OUTSIDE_SCOPE, Call("GET", GW_IN)
    ),
    # Devices: by region, by gateway, by location.
    "pull a device by region": Move(
        "admin", _put("/devices/sn-0b01", {"region": "c01/t03"}), NOT_FOUND, Call("GET", DEV_OUT)
    ),
    "pull a device by gateway": Move(
        "admin", _put("/devices/sn-0b01", {"gateway": "gw-dongcun-01"}), NOT_FOUND, Call("GET", DEV_OUT)
    ),
    "push a device to another township's region": Move(
        "admin",
        _put("/devices/sn-00a3", {"region": "c01/t05"}),
        Refused(422, "unknown_region"),
        Call("GET", DEV_IN),
    ),
    "push a device to another township's gateway": Move(
        "admin",
        _put("/devices/sn-00a3", {"gateway": "gw-xicun-01"}),
        Refused(422, "unknown_gateway"),
        Call("GET", DEV_IN),
    ),
    "move a device's location into another township's grid": Move(
        "admin", _put("/devices/sn-00a3", {"lat": 30.5, "lon": 100.5}), OUTSIDE_SCOPE, Call("GET", DEV_IN)
    ),
    "register a new device in another township": Move(
        "admin",
        _put("/devices/sn-0c99", {"region": "c01/t05/v01"}),
        Refused(422, "unknown_region"),
        Call("GET", V + "/devices/sn-0c99"),
    ),
    "register a device nowhere": Move(
        "admin", _put("/devices/sn-0c99", {"name": "x"}), OUTSIDE_SCOPE, Call("GET", V + "/devices/sn-0c99")
    ),
    # Stations.
    "pull a station by region": Move(
        "admin",
        _put("/stations/st-xicun", {"region": "c01/t03"}),
        NOT_FOUND,
        Call("GET", V + "/stations/st-xicun"),
    ),
    "push a station to another township's grid": Move(
        "admin",
        _put("/stations/st-dongcun", {"region": "c01/t05/v01/g1"}),
        Refused(422, "unknown_region"),
        Call("GET", V + "/stations/st-dongcun"),
    ),
    "found a station whose location is in another township": Move(
        "admin",
        _put("/stations/st-new", {"name": "新站", "lat": 30.5, "lon": 100.5}),
        OUTSIDE_SCOPE,
        Call("GET", V + "/stations/st-new"),
    ),
    # Regions: one's own region is the business of the admins above.
    "rename one's own region": Move(
        "admin",
        Call("POST", V + "/regions", json={"path": "c01/t03", "name": "改名", "level": "township"}),
        OUTSIDE_SCOPE,
        Call("GET", V + "/regions", params={"parent": "c01"}),
    ),
    "create a region under another township": Move(
        "admin",
        Call("POST", V + "/regions", json={"path": "c01/t05/v99", "name": "新村", "level": "village"}),
        NOT_FOUND,
        Call("GET", V + "/regions", params={"parent": "c01/t05"}),
    ),
    "import a region of another township along with one's own": Move(
        "admin",
        Call(
            "POST",
            V + "/regions/import",
            json={
                "type": "FeatureCollection",
                "features": [
                    _feature("c01/t03/v12", "改名", "village"),
                    _feature("c01/t05/v02", "新村", "village"),
                ],
            },
        ),
        NOT_FOUND,
        Call("GET", V + "/regions", params={"limit": 500}),
    ),
    # Notification rules.
    "move a notification rule to another township": Move(
        "admin",
        Call("PUT", V + "/notify-rules/{rule-in}", json=_rule("outside", "rule-in")),
        Refused(422, "unknown_region"),
        Call("GET", V + "/notify-rules"),
    ),
    # Cases and commands.
    "transfer a case to another township": Move(
        "duty_officer",
        Call("POST", V + "/cases/{inside}/actions", json={"action": "transfer", "region": "c01/t05"}),
        Refused(422, "bad_transfer"),
        Call("GET", V + "/cases/{inside}"),
    ),
    "command another township's device through one's own gateway": Move(
        "duty_officer",
        Call("POST", GW_IN + "/commands", json={"op": "identify", "device": "sn-0b01"}),
        Refused(422, "unknown_device"),
        Call("GET", DEV_OUT),
    ),
}


@pytest.mark.parametrize("name", list(MOVES))
def test_a_write_across_the_border_is_refused_and_changes_nothing(world: World, name: str) -> None:
    move = MOVES[name]
    call, witness = (
        Call(
            c.method,
            c.path.replace("{inside}", str(world.cases["inside"])).replace(
                "{rule-in}", str(world.rules["inside"])
            ),
            c.params,
            c.json,
        )
        for c in (move.call, move.witness)
    )
    before = world.root(witness)
    resp = world.send(call, move.caller)
    assert (resp.status_code, resp.json()["reason"]) == (move.refused.status, move.refused.reason), resp.text
    after = world.root(witness)
    assert (after.status_code, after.json()) == (before.status_code, before.json())


def test_a_township_admin_cannot_pull_a_gateway_then_lock_it_out_and_command_it(world: World) -> None:
    """The reported attack, step by step: every step answers as if the gateway did not exist."""
    before = world.root(Call("GET", GW_OUT)).json()
    for call in (
        _put("/gateways/gw-xicun-01", {"station": "st-dongcun"}),
        Call("POST", GW_OUT + "/credentials"),
        Call("POST", GW_OUT + "/commands", json={"op": "siren", "on": True}),
    ):
        resp = world.send(call, "admin")
        assert (resp.status_code, resp.json()) == (
            404,
            {"detail": "gateway gw-xicun-01 not found", "reason": "not_found"},
        )
    assert (
        world.root(Call("GET", GW_OUT)).json()
        == before
        == {
            "id": "gw-xicun-01",
            "station": "st-xicun",
            "status": None,
            "status_at": None,
            "has_credentials": False,
            "reused_seqs": 0,
            "reused_seq_at": None,
        }
    )


def test_the_matrix_callers_hold_the_roles_they_stand_for(world: World) -> None:
    users = world.root(Call("GET", V + "/users", params={"limit": 500})).json()["items"]
    held = {u["username"]: (u["role"], u["region"]) for u in users}
    for role, name in CALLERS.items():
        if name:
            assert held[name] == (role, "c01/t03")


def test_the_world_has_objects_on_both_sides(world: World) -> None:
    """The outside cells mean something only if the outside objects exist for the root admin."""
    for call in (
        Call("GET", GW_OUT),
        Call("GET", DEV_OUT),
        Call("GET", V + "/stations/st-xicun"),
        Call("GET", V + "/users/target-out"),
        Call("GET", V + "/cases/%d" % world.cases["outside"]),
        Call("GET", V + "/commands/" + world.commands["outside"]),
        Call("GET", V + "/regions/locate", params={"lat": 30.5, "lon": 100.5}),
    ):
        assert world.root(call).status_code == 200, call
