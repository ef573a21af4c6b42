"""The SIA DC-09 receiver: store, commit, then ACK; every refusal answered, counted, logged,
and never a case. The receiver is driven frame by frame here; tests/server/test_sia_link.py
sends the same frames over TCP and UDP to the running server."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from protocol.dc09 import ack, decrypt_block, encode_message, nak, read_frame
from protocol.topics import Topics
from server.db.engine import Database
from server.db.models import Case, Device, EventRow, PanelLink
from server.deadlines import Escalator
from server.metrics import Metrics
from server.settings import Deadlines
from server.sia.receiver import PanelReceiver
from server.sia.supervision import PanelSupervisor, catalog_silences
from tests.server.srv_support import T0, FakeClock

KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


class Recorder:
    """What the receiver publishes (duty alerts), kept in order. The MQTT path itself is
    exercised by test_sia_link.py with Mosquitto."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.sent.append((topic, payload))


@pytest.fixture
def panels(db: Database) -> Database:
    with db.write() as s:
        zones = {"5": "后门", "057": "店主"}
        s.add(Device(id="sia-1234", model="sia-panel", name="小卖部 报警主机", zones=zones))
        s.add(Device(id="sia-beef", model="sia-panel", name="卫生室 报警主机", key=KEY.hex()))
    with db.write() as s:
        # Placed like any device: an explicit region.
        region = s.execute(text("SELECT id FROM regions WHERE path = 'c01/t03/v12/g4'")).scalar_one()
        for dev in s.scalars(select(Device).where(Device.id.in_(["sia-1234", "sia-beef"]))):
            dev.region_id = region
    return db


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0.replace(microsecond=0))


@pytest.fixture
def receiver(panels: Database, clock: FakeClock) -> tuple[PanelReceiver, Recorder, Metrics]:
    recorder = Recorder()
    metrics = Metrics()
    return PanelReceiver(panels, recorder, Topics(), metrics, clock, Deadlines()), recorder, metrics


def _events(db: Database) -> list[dict[str, Any]]:
    with db.read() as s:
        return [
            {"device": r.device_id, "kind": r.kind, "priority": r.priority, "at": r.at, "data": r.data,
             "region": r.region_path, "gateway": r.gateway_id}
            for r in s.scalars(select(EventRow).order_by(EventRow.received_at, EventRow.id))
        ]


def _cases(db: Database) -> list[tuple[str, str, str, str, int]]:
    with db.read() as s:
        return [
            (c.device_id, c.alarm_class, c.category, c.region_path or "", c.event_count)
            for c in s.scalars(select(Case).order_by(Case.id))
        ]


def test_burglary_is_stored_then_acked_and_opens_one_case(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock
) -> None:
    rx, recorder, metrics = receiver
    frame = encode_message("ADM-CID", 17, "1234", "1130 01 005", timestamp=clock.now)
    assert rx.handle(frame, "127.0.0.1:40000") == b'\n' + b'F8250012"ACK"0017L0#1234[]' + b"\r"
    assert _events(panels) == [
        {
            "device": "sia-1234",
            "kind": "intrusion",
            "priority": "alarm",
            "at": clock.now,
            "gateway": "sia-1234",
            "region": "c01/t03/v12/g4",
            "data": {
                "source": "sia-dc09",
                "format": "ADM-CID",
                "code": "1130",
                "label": "Burglary",
                "panel_seq": "0017",
                "zone": "005",
                "zone_name": "后门",
                "area": "01",
            },
        }
    ]
    assert _cases(panels) == [("sia-1234", "intrusion", "alarm", "c01/t03/v12/g4", 1)]
    assert [topic for topic, _ in recorder.sent] == ["sw/v1/duty/c01/t03/v12/g4/alerts"]
    assert (metrics.get("sia_frames"), metrics.get("sia_acked"), metrics.get("cases_opened")) == (1, 1, 1)


def test_a_resend_is_acked_again_and_stored_once(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock
) -> None:
    rx, recorder, metrics = receiver
    frame = encode_message("SIA-DCS", 18, "1234", "Nri1/FA003", timestamp=clock.now)
    first = rx.handle(frame)
    clock.advance(5)  # the ACK was lost; the panel sends the same frame again
    assert rx.handle(frame) == first
    assert [(e["kind"], e["data"]["code"]) for e in _events(panels)] == [("fire", "FA")]
    assert _cases(panels) == [("sia-1234", "fire", "alarm", "c01/t03/v12/g4", 1)]
    assert len(recorder.sent) == 1
    assert metrics.get("sia_duplicates") == 1


def test_untimestamped_frames_of_another_day_are_new_events(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock
) -> None:
    rx, _, _ = receiver
    frame = encode_message("ADM-CID", 9, "1234", "1602 00 000")
    rx.handle(frame)
    clock.advance(3)
    rx.handle(frame)  # a retry the same day: the same event
    clock.advance(24 * 3600)
    rx.handle(frame)  # the sequence number came round again a day later: a new report
    assert [(e["kind"], e["at"]) for e in _events(panels)] == [
        ("heartbeat", T0.replace(microsecond=0)),
        ("heartbeat", T0.replace(microsecond=0) + timedelta(seconds=24 * 3600 + 3)),
    ]


def test_a_replay_after_newer_frames_is_refused(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rx, _, metrics = receiver
    a = encode_message("SIA-DCS", 20, "1234", "Nri1/BA001", timestamp=clock.now)
    b = encode_message("SIA-DCS", 21, "1234", "Nri1/BH001", timestamp=clock.now)
    rx.handle(a)
    clock.advance(1)
    rx.handle(b)
    clock.advance(1)
    with caplog.at_level(logging.WARNING, logger="server.sia.receiver"):
        answer = rx.handle(a, "127.0.0.9:5000")
    assert answer == nak(clock.now, read_frame(a))
    assert metrics.get("sia_rejected", reason="replayed") == 1
    assert "refused (replayed)" in caplog.text and "127.0.0.9:5000" in caplog.text
    assert [e["data"]["code"] for e in _events(panels)] == ["BA", "BH"]
    assert _cases(panels) == [("sia-1234", "intrusion", "alarm", "c01/t03/v12/g4", 1)]


def test_encrypted_panel_is_answered_encrypted(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock
) -> None:
    rx, _, _ = receiver
    frame = encode_message("ADM-CID", 3, "BEEF", "1120 01 002", timestamp=clock.now, key=KEY)
    answer = rx.handle(frame)
    assert answer.startswith(b'\n') and answer[9:].startswith(b'"*ACK"0003L0#BEEF[')
    block = answer[9:-1].decode().split("[", 1)[1]
    assert decrypt_block(block, KEY) == "]" + clock.now.strftime("_%H:%M:%S,%m-%d-%Y")
    assert [(e["device"], e["kind"], e["data"]["code"]) for e in _events(panels)] == [
        ("sia-beef", "panic", "1120")]
    assert _cases(panels) == [("sia-beef", "panic", "alarm", "c01/t03/v12/g4", 1)]


def _refused(rx: PanelReceiver, metrics: Metrics, frame: bytes, reason: str) -> bytes:
    before = metrics.get("sia_rejected", reason=reason)
    answer = rx.handle(frame)
    assert metrics.get("sia_rejected", reason=reason) == before + 1
    return answer


def test_bad_input_gets_its_answer_and_never_a_case(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rx, recorder, metrics = receiver
    now = clock.now
    good = encode_message("ADM-CID", 30, "1234", "1120 01 001", timestamp=now)
    broken = good[:-3] + (b"2" if good[-3:-2] != b"2" else b"3") + good[-2:]
    with caplog.at_level(logging.WARNING, logger="server.sia.receiver"):
        assert _refused(rx, metrics, broken, "bad_crc") == nak(now)
        unknown = encode_message("ADM-CID", 31, "4321", "1120 01 001", timestamp=now)
        assert _refused(rx, metrics, unknown, "unknown_account") == nak(now, read_frame(unknown))
        wrong_key = encode_message("ADM-CID", 32, "BEEF", "1120 01 001", timestamp=now, key=bytes(16))
        assert _refused(rx, metrics, wrong_key, "bad_key") == nak(now, read_frame(wrong_key))
        plain = encode_message("ADM-CID", 33, "BEEF", "1120 01 001", timestamp=now)
        assert _refused(rx, metrics, plain, "not_encrypted") == nak(now, read_frame(plain))
        no_key = encode_message("ADM-CID", 34, "1234", "1120 01 001", timestamp=now, key=KEY)
        assert _refused(rx, metrics, no_key, "no_key") == nak(now, read_frame(no_key))
        stale = encode_message("ADM-CID", 35, "1234", "1120 01 001", timestamp=now - timedelta(seconds=41))
        assert _refused(rx, metrics, stale, "stale_timestamp") == nak(now, read_frame(stale))
        future = encode_message("ADM-CID", 36, "1234", "1120 01 001", timestamp=now + timedelta(seconds=21))
        assert _refused(rx, metrics, future, "stale_timestamp") == nak(now, read_frame(future))
        odd = encode_message("ADM-CID", 37, "1234", "9120 01 001", timestamp=now)
        assert _refused(rx, metrics, odd, "bad_data") == b'\n' + b'7EF00012"DUH"0037L0#1234[]' + b"\r"
    assert _events(panels) == [] and _cases(panels) == [] and recorder.sent == []
    assert caplog.text.count("SIA frame from") == 8
    assert metrics.get("sia_acked") == 0


def test_link_test_updates_supervision_only(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock
) -> None:
    rx, _, _ = receiver
    frame = encode_message("NULL", 0, "1234", "", timestamp=clock.now)
    assert rx.handle(frame, "127.0.0.1:9") == b'\n' + b'DE900012"ACK"0000L0#1234[]' + b"\r"
    assert _events(panels) == []
    with panels.read() as s:
        link = s.get(PanelLink, "sia-1234")
        assert link is not None
        assert (link.last_seen_at, link.missing, link.peer) == (clock.now, False, "127.0.0.1:9")


def test_a_silent_panel_opens_a_maintenance_case_once(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock
) -> None:
    rx, _, _ = receiver
    seen = clock.now
    rx.handle(encode_message("NULL", 1, "1234", "", timestamp=seen))
    supervisor = PanelSupervisor(panels, clock, Deadlines(), catalog_silences())
    assert supervisor.tick(seen + timedelta(seconds=599)) == []
    alerts = supervisor.tick(seen + timedelta(seconds=600))
    assert [a.payload["type"] for a in alerts] == ["case_opened"]
    assert supervisor.tick(seen + timedelta(seconds=1200)) == []
    assert _cases(panels) == [("sia-1234", "missing", "maintenance", "c01/t03/v12/g4", 1)]
    clock.now = seen + timedelta(seconds=1300)
    rx.handle(encode_message("NULL", 2, "1234", "", timestamp=clock.now))
    assert [(e["kind"], e["priority"], e["at"]) for e in _events(panels)] == [
        ("device_missing", "fault", seen + timedelta(seconds=600)),
        ("device_back", "fault", clock.now),
    ]
    assert _events(panels)[0]["data"] == {
        "source": "sia-dc09", "last_seen": seen.isoformat(), "silence_s": 600}
    with panels.read() as s:
        link = s.get(PanelLink, "sia-1234")
        assert link is not None and link.missing is False
    assert _cases(panels) == [("sia-1234", "missing", "maintenance", "c01/t03/v12/g4", 2)]


def test_database_failure_is_a_nak_and_the_retry_is_stored(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock,
) -> None:
    rx, _, metrics = receiver
    frame = encode_message("ADM-CID", 40, "1234", "1110 01 004", timestamp=clock.now)
    with panels.write() as s:
        s.execute(text("ALTER TABLE case_events RENAME TO case_events_away"))
    assert rx.handle(frame) == nak(clock.now, read_frame(frame))
    assert metrics.get("sia_errors") == 1
    assert _events(panels) == []
    with panels.write() as s:
        s.execute(text("ALTER TABLE case_events_away RENAME TO case_events"))
    clock.advance(2)
    message_ack = rx.handle(frame)
    assert message_ack == b'\n' + b'EE850012"ACK"0040L0#1234[]' + b"\r"
    assert [e["kind"] for e in _events(panels)] == ["fire"]
    assert _cases(panels) == [("sia-1234", "fire", "alarm", "c01/t03/v12/g4", 1)]


def test_restores_and_openings(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock
) -> None:
    rx, _, _ = receiver
    for seq, data in enumerate(["1302 00 000", "3302 00 000", "1401 01 057", "3401 01 057", "3130 01 005"]):
        rx.handle(encode_message("ADM-CID", seq + 50, "1234", data, timestamp=clock.now))
        clock.advance(1)
    got = [(e["kind"], e["data"].get("restore", False), e["data"].get("zone_name")) for e in _events(panels)]
    assert got == [
        ("low_battery", False, None),
        ("battery_ok", True, None),
        ("door_open", False, "店主"),
        ("door_close", False, "店主"),
        ("heartbeat", True, "后门"),
    ]
    assert _cases(panels) == [("sia-1234", "battery", "maintenance", "c01/t03/v12/g4", 2)]


def test_ack_helper_matches_the_receiver(
    receiver: tuple[PanelReceiver, Recorder, Metrics], clock: FakeClock
) -> None:
    rx, _, _ = receiver
    frame = encode_message("SIA-DCS", 60, "1234", "Nri1/RP000", timestamp=clock.now)
    from protocol.dc09 import open_message

    assert rx.handle(frame) == ack(open_message(read_frame(frame), None), clock.now)


def test_database_down_at_the_account_lookup_is_a_nak(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock,
) -> None:
    rx, _, metrics = receiver
    frame = encode_message("ADM-CID", 41, "1234", "1110 01 004", timestamp=clock.now)
    with panels.write() as s:
        s.execute(text("ALTER TABLE devices RENAME TO devices_away"))
    try:
        assert rx.handle(frame) == nak(clock.now)
        assert metrics.get("sia_errors") == 1
    finally:
        with panels.write() as s:
            s.execute(text("ALTER TABLE devices_away RENAME TO devices"))
    assert _events(panels) == []


def test_supervision_follows_the_panel_model(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock
) -> None:
    """The catalog says how long a panel may be silent: sia-panel 600 s; a panel registered
    without a model is a sia-panel; a model with supervision_s = 0 is never missing."""
    rx, _, _ = receiver
    with panels.write() as s:
        s.add(Device(id="sia-0a0a", name="no model"))
        s.add(Device(id="sia-0b0b", model="quiet-panel", name="not supervised"))
    seen = clock.now
    for account in ("1234", "0A0A", "0B0B"):
        rx.handle(encode_message("NULL", 1, account, "", timestamp=seen))
    supervisor = PanelSupervisor(panels, clock, Deadlines(), {"sia-panel": 600.0, "quiet-panel": 0.0})
    assert (supervisor.silence("sia-panel"), supervisor.silence(None), supervisor.silence("quiet-panel")) == (
        600.0, 600.0, 0.0)
    alerts = supervisor.tick(seen + timedelta(seconds=3600))
    assert sorted(a.payload["device"]["id"] for a in alerts) == ["sia-0a0a", "sia-1234"]
    assert catalog_silences() == {"sia-panel": 600.0}


def test_a_panel_alarm_nobody_accepts_is_escalated(
    receiver: tuple[PanelReceiver, Recorder, Metrics], panels: Database, clock: FakeClock
) -> None:
    """Same path as a gateway's alarm: the case's accept deadline runs out, it escalates."""
    rx, _, _ = receiver
    rx.handle(encode_message("ADM-CID", 70, "1234", "1120 01 003", timestamp=clock.now))
    escalator = Escalator(panels, clock, Deadlines())
    first = escalator.tick(clock.now + timedelta(seconds=50))  # 80 % of the 60 s: yellow
    second = escalator.tick(clock.now + timedelta(seconds=61))  # past the deadline: red, one level up
    assert [(a.payload["type"], a.payload["device"]["id"]) for a in first + second] == [
        ("case_updated", "sia-1234"), ("case_escalated", "sia-1234")]
    assert second[0].region_path == ["c01", "t03", "v12"]
