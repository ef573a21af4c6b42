"""Staff PINs at the station: stored hashed, checked with no link, wrong PINs throttled, sessions
that end when idle. Real SQLite files; the clock is injected."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.kiosk.db import KioskDb
from gateway.kiosk.errors import BadInput, NotFound, Throttled, WrongPin
from gateway.kiosk.pins import MAX_STAFF, PinStore, Staff, StaffSignIn
from protocol.pins import hash_pin, verify_pin
from tests.conftest import REPO
from tests.gateway.gw_support import FakeClock

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HASH_2468 = "pbkdf2-sha256$10000$AAECAwQFBgcICQoLDA0ODw$GgjWCG9tx_ZuEBPQdwdLZH6ofwGkpLjHezyaXuDmorE"


@pytest.fixture
def pins(tmp_path: Path) -> PinStore:
    return PinStore(KioskDb(tmp_path))


def test_a_pin_is_kept_as_its_hash_only(pins: PinStore, tmp_path: Path) -> None:
    pins.set_pin("王芳", "805931", set_by="cli", now=NOW)
    stored = pins.hash_of("王芳")
    assert stored is not None and stored.startswith("pbkdf2-sha256$120000$") and verify_pin("805931", stored)
    raw = (tmp_path / "kiosk.db").read_bytes() + (tmp_path / "kiosk.db-wal").read_bytes()
    assert b"805931" not in raw
    assert pins.staff() == [Staff("王芳", "2026-11-23T08:00:00.000Z", "cli")]


def test_a_hash_from_the_server_is_stored_as_sent(pins: PinStore) -> None:
    pins.set("Li Wei", HASH_2468, set_by="admin", now=NOW)
    pins.set("Li Wei", HASH_2468, set_by="admin2", now=NOW)  # set again: replaced, not doubled
    assert pins.hash_of("Li Wei") == HASH_2468
    assert pins.staff() == [Staff("Li Wei", "2026-11-23T08:00:00.000Z", "admin2")]


@pytest.mark.parametrize(("name", "pin_hash", "reason"), [
    ("", HASH_2468, "bad_name"),
    (" 王芳", HASH_2468, "bad_name"),
    ("王芳", "2468", "bad_pin_hash"),
    ("王芳", HASH_2468.replace("$10000$", "$10$"), "bad_pin_hash"),
])
def test_bad_names_and_hashes_are_refused(pins: PinStore, name: str, pin_hash: str, reason: str) -> None:
    with pytest.raises(BadInput) as err:
        pins.set(name, pin_hash, set_by="x", now=NOW)
    assert err.value.reason == reason
    assert pins.staff() == []


@pytest.mark.parametrize(("pin", "reason"), [("12", "bad_pin"), ("1111", "weak_pin"), ("4567", "weak_pin")])
def test_weak_pins_are_refused_at_the_cli(pins: PinStore, pin: str, reason: str) -> None:
    with pytest.raises(BadInput) as err:
        pins.set_pin("王芳", pin, set_by="cli", now=NOW)
    assert err.value.reason == reason


def test_a_station_keeps_a_bounded_staff_list(pins: PinStore) -> None:
    for n in range(MAX_STAFF):
        pins.set("staff %d" % n, HASH_2468, set_by="x", now=NOW)
    with pytest.raises(BadInput) as err:
        pins.set("one more", HASH_2468, set_by="x", now=NOW)
    assert err.value.reason == "too_many_staff"
    pins.set("staff 0", HASH_2468, set_by="y", now=NOW)  # replacing one is still fine


def test_remove(pins: PinStore) -> None:
    pins.set("王芳", HASH_2468, set_by="x", now=NOW)
    pins.remove("王芳")
    assert pins.hash_of("王芳") is None
    with pytest.raises(NotFound) as err:
        pins.remove("王芳")
    assert err.value.reason == "no_such_staff"


def test_pins_outlive_a_restart_and_are_shared_with_another_process_view(tmp_path: Path) -> None:
    first = PinStore(KioskDb(tmp_path))
    first.set("王芳", HASH_2468, set_by="x", now=NOW)
    second = PinStore(KioskDb(tmp_path))  # the CLI's connection beside the running gateway's
    assert second.hash_of("王芳") == HASH_2468
    second.remove("王芳")
    assert first.hash_of("王芳") is None


# --- sign-in ---------------------------------------------------------------------------------

@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def signin(pins: PinStore, clock: FakeClock) -> StaffSignIn:
    pins.set("王芳", HASH_2468, set_by="x", now=NOW)
    pins.set("李强", hash_pin("805931", iterations=10_000), set_by="x", now=NOW)
    return StaffSignIn(pins, idle_s=600, clock=clock)


def test_sign_in_opens_a_session_that_ends_when_idle(signin: StaffSignIn, clock: FakeClock) -> None:
    token = signin.sign_in("王芳", "2468", "10.0.0.5")
    assert len(token) >= 40
    clock.advance(599)
    assert signin.session(token) == "王芳"  # used: kept alive
    clock.advance(599)
    assert signin.peek(token) == "王芳"
    clock.advance(2)
    assert signin.peek(token) is None  # peeking does not keep it alive
    assert signin.session(token) is None
    assert signin.session(token) is None  # gone for good
    assert signin.session(None) is None and signin.session("forged") is None


def test_sign_out_and_pin_change_end_sessions(signin: StaffSignIn) -> None:
    one = signin.sign_in("王芳", "2468", "10.0.0.5")
    two = signin.sign_in("李强", "805931", "10.0.0.5")
    signin.sign_out(one)
    assert signin.session(one) is None
    signin.forget("李强")
    assert signin.session(two) is None


@pytest.mark.parametrize(("name", "pin"), [
    ("王芳", "2469"), ("王芳", ""), ("nobody", "2468"), ("王芳", "２４６８"),
])
def test_wrong_name_or_pin(signin: StaffSignIn, name: str, pin: str) -> None:
    with pytest.raises(WrongPin) as err:
        signin.sign_in(name, pin, "10.0.0.5")
    assert (err.value.status, err.value.reason) == (401, "wrong_pin")


def test_wrong_pins_are_throttled_per_name_and_per_client(signin: StaffSignIn, clock: FakeClock) -> None:
    for _ in range(4):
        with pytest.raises(WrongPin):
            signin.sign_in("王芳", "0000", "10.0.0.5")
    with pytest.raises(Throttled) as err:
        signin.sign_in("王芳", "1357", "10.0.0.5")  # the fifth wrong PIN locks for 30 s
    assert (err.value.status, err.value.reason, err.value.retry_after) == (429, "throttled", 30.0)
    # Locked: the right PIN is not even checked, from this client or another one.
    with pytest.raises(Throttled):
        signin.sign_in("王芳", "2468", "10.0.0.9")
    # The client is locked too, for every name it tries.
    with pytest.raises(Throttled):
        signin.sign_in("李强", "805931", "10.0.0.5")
    assert signin.sign_in("李强", "805931", "10.0.0.9")  # another name from another client
    clock.advance(30)
    with pytest.raises(Throttled) as err:
        signin.sign_in("王芳", "1111", "10.0.0.5")  # each further wrong PIN doubles the lock
    assert err.value.retry_after == 60.0
    clock.advance(60)
    assert signin.sign_in("王芳", "2468", "10.0.0.5")  # success clears the record
    with pytest.raises(WrongPin):
        signin.sign_in("王芳", "0000", "10.0.0.5")


def test_the_lock_stops_growing_at_fifteen_minutes(signin: StaffSignIn, clock: FakeClock) -> None:
    waits = []
    for _ in range(12):
        try:
            signin.sign_in("王芳", "0000", "10.0.0.5")
        except WrongPin:
            waits.append(0.0)
        except Throttled as exc:
            waits.append(exc.retry_after)
        clock.advance(max(waits[-1], 0.0))
    assert waits == [0.0, 0.0, 0.0, 0.0, 30.0, 60.0, 120.0, 240.0, 480.0, 900.0, 900.0, 900.0]


def test_old_failures_are_forgotten(signin: StaffSignIn, clock: FakeClock) -> None:
    for _ in range(4):
        with pytest.raises(WrongPin):
            signin.sign_in("王芳", "0000", "10.0.0.5")
    clock.advance(3601)
    with pytest.raises(WrongPin):  # counted afresh: not the fifth
        signin.sign_in("王芳", "0000", "10.0.0.5")


# --- the CLI ---------------------------------------------------------------------------------

def _cli(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", "pin", *args, "--config", str(config)],
                          input=stdin, capture_output=True, text=True, cwd=REPO, timeout=60)


def test_the_cli_sets_lists_and_removes_pins(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[gateway]\nid = "gw-dongcun-01"\ndata_dir = "data"\n\n[kiosk]\n', encoding="utf-8")
    done = _cli(config, "set", "王芳", "--pin-stdin", stdin="805931\n")
    assert (done.returncode, done.stdout) == (0, "PIN for 王芳 set\n")
    assert "staff PIN for 王芳 set by cli:" in done.stderr and "805931" not in done.stderr
    stored = PinStore(KioskDb(tmp_path / "data")).hash_of("王芳")
    assert stored is not None and verify_pin("805931", stored)
    weak = _cli(config, "set", "李强", "--pin-stdin", stdin="1234\n")
    assert (weak.returncode, weak.stderr) == (2, "error: a run of digits (1234, 9876) is guessed first\n")
    assert PinStore(KioskDb(tmp_path / "data")).hash_of("李强") is None
    listed = _cli(config, "list")
    assert listed.returncode == 0 and listed.stdout.startswith("王芳\tset ") and "by cli:" in listed.stdout
    assert _cli(config, "remove", "王芳").stdout == "PIN for 王芳 removed\n"
    again = _cli(config, "remove", "王芳")
    assert (again.returncode, again.stderr) == (2, "error: no PIN for 王芳\n")
    nameless = _cli(config, "set")
    assert (nameless.returncode, nameless.stderr) == (2, "error: give the staff member's name\n")
