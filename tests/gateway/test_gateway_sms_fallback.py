"""The gateway's SMS fallback against a real outbox and the modem stand-in on a pty."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.counters import Counters
from gateway.outbox import Incoming, Outbox, OutboxReader
from gateway.sms_fallback import SmsFallback, read_summary
from hardware.gsm_modem import GsmModem
from protocol.kinds import Kind, Priority
from tests.modem_standin import ModemStandIn

GW = "gw-dongcun-01"
T0 = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)  # 16:00 in Shanghai
NUMBERS = ("+8613800138000", "13900139000")
ALARM_TEXT = (
    "【守望】东村服务站报警：紧急求助，王奶奶家 呼叫按钮，16:00。"
    "服务器2分钟未确认（网络可能中断），请立即处置。"
)
ACCEPTED_TEXT = "【守望】东村服务站：16:00的紧急求助（王奶奶家 呼叫按钮）已由值班室受理。"


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def standin() -> Iterator[ModemStandIn]:
    with ModemStandIn() as s:
        yield s


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", GW)
    yield box
    box.close()


class Station:
    def __init__(self, tmp_path: Path, standin: ModemStandIn) -> None:
        self.clock = Clock()
        self.counters = Counters()
        self.reader = OutboxReader(tmp_path / "outbox.db", GW)
        self.modem = GsmModem(standin.port, command_timeout=2, send_timeout=2)
        self.tmp_path = tmp_path

    def fallback(self) -> SmsFallback:
        return SmsFallback(
            numbers=NUMBERS,
            after_s=120,
            station="东村服务站",
            data_dir=self.tmp_path,
            pending=lambda: self.reader.pending(priority=Priority.ALARM),
            modem=self.modem,
            counters=self.counters,
            describe=lambda device: {"sn-00a3": "王奶奶家 呼叫按钮"}.get(device, device),
            clock=self.clock,
        )


@pytest.fixture
def station(tmp_path: Path, standin: ModemStandIn, outbox: Outbox) -> Iterator[Station]:
    st = Station(tmp_path, standin)
    yield st
    st.modem.close()
    st.reader.close()


def panic(outbox: Outbox, device_seq: int = 7) -> int:
    (appended,) = outbox.append([Incoming("sn-00a3", Kind.PANIC, T0, device_seq=device_seq)])
    return appended.seq


def test_an_alarm_unacked_past_the_limit_is_texted_once_to_each_number(
    station: Station, outbox: Outbox, standin: ModemStandIn
) -> None:
    panic(outbox)
    outbox.append([Incoming("sn-00a3", Kind.HEARTBEAT, T0)])  # status: never texted
    fb = station.fallback()
    assert fb.step() == 0  # just seen
    station.clock.now += 119
    assert fb.step() == 0
    station.clock.now += 1
    assert fb.step() == 2
    assert standin.messages() == [(NUMBERS[0], ALARM_TEXT), (NUMBERS[1], ALARM_TEXT)]
    station.clock.now += 600
    assert fb.step() == 0  # texted already
    assert fb.status() == {
        "numbers": 2,
        "after_s": 120,
        "texts_sent": {"alarm": 2, "accepted": 0},
        "failures": {},
        "last_error": None,
    }
    assert station.counters.get("sms.sent.alarm") == 2
    fb.stop()


def test_an_alarm_the_server_acks_in_time_is_not_texted(
    station: Station, outbox: Outbox, standin: ModemStandIn
) -> None:
    seq = panic(outbox)
    fb = station.fallback()
    fb.step()
    station.clock.now += 60
    outbox.settle([(seq, seq)])  # the server's ack
    station.clock.now += 600
    assert fb.step() == 0
    assert standin.parts == []
    fb.stop()


def test_accepted_is_texted_to_the_same_numbers_and_survives_a_restart(
    station: Station, outbox: Outbox, standin: ModemStandIn
) -> None:
    seq = panic(outbox, device_seq=7)
    fb = station.fallback()
    fb.step()
    station.clock.now += 121
    assert fb.step() == 2
    outbox.settle([(seq, seq)])  # the link is back
    standin.creg, standin.cereg = 0, 0  # ...but the modem lost its network for now
    fb.accepted("sn-00a3", 7)
    assert fb.step() == 0
    assert station.counters.get("sms.failed.no_network") == 2
    fb.stop()
    # A restart: the acceptance heard before is not forgotten, and the alarm is not texted again.
    standin.creg = 1
    again = station.fallback()
    station.clock.now += 29
    assert again.step() == 2  # the backoff of the previous life is gone with it
    assert standin.messages()[2:] == [(NUMBERS[0], ACCEPTED_TEXT), (NUMBERS[1], ACCEPTED_TEXT)]
    assert again.step() == 0
    summary = read_summary(station.tmp_path)
    assert summary == {
        "texts_sent": {"alarm": 2, "accepted": 2},
        "failures": {"no_network": 2},
        "last_error": "no_network: not registered on a network",
    }
    again.stop()


def test_a_failed_text_is_retried_with_backoff(
    station: Station, outbox: Outbox, standin: ModemStandIn
) -> None:
    panic(outbox)
    fb = station.fallback()
    fb.step()
    station.clock.now += 120
    standin.send_faults = [500, 500]  # both numbers fail once
    assert fb.step() == 0
    assert fb.status()["failures"] == {"modem_error": 2}
    station.clock.now += 29
    assert fb.step() == 0  # retry in 30 s
    station.clock.now += 1
    assert fb.step() == 2
    assert [n for n, _ in standin.messages()] == list(NUMBERS)
    fb.stop()


def test_no_summary_without_a_modem(tmp_path: Path) -> None:
    assert read_summary(tmp_path) is None
