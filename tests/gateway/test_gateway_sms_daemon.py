"""The SMS fallback wired in the gateway: fires with the broker stopped, not with it running
(real Mosquitto, a pty node, the modem stand-in on a pty, the gateway's injected clock)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import SmsSettings, parse_settings
from gateway.daemon import Gateway
from gateway.errors import ConfigError
from gateway.tools import status_report
from protocol.kinds import Kind
from shouwang.mosquitto import Mosquitto
from tests.gateway.gw_support import FakeClock, FakeServer, PtyNode, settings, wait_for
from tests.modem_standin import ModemStandIn

GW = "gw-test-01"
NUMBER = "+8613800138000"


@pytest.fixture
def node() -> Iterator[PtyNode]:
    n = PtyNode()
    yield n
    n.close()


@pytest.fixture
def modem() -> Iterator[ModemStandIn]:
    with ModemStandIn() as m:
        yield m


def station(
    tmp_path: Path, broker: Mosquitto, node: PtyNode, modem: ModemStandIn, clock: FakeClock
) -> Gateway:
    base = settings(tmp_path, broker.url, [node.port], ["sn-00a3"])
    sms = SmsSettings(port=modem.port, numbers=(NUMBER,), after_s=60.0, station="东村服务站")
    return Gateway(dataclasses.replace(base, sms=sms), clock=clock)


def test_with_the_broker_stopped_the_station_texts_the_alarm_and_then_its_acceptance(
    tmp_path: Path, broker: Mosquitto, node: PtyNode, modem: ModemStandIn
) -> None:
    clock = FakeClock()
    gw = station(tmp_path, broker, node, modem, clock)
    broker.stop()  # the link is down
    gw.start()
    try:
        node.event("00a3", 1, Kind.PANIC)
        node.read_msg()  # stored: the node has its ack
        assert gw.sms is not None
        gw.sms.step()  # seen now (its own thread may have seen it first)
        clock.advance(59)
        assert gw.sms.step() == 0
        assert modem.parts == []
        clock.advance(1)
        gw.sms.step()  # or its thread: one round at a time, one text
        wait_for(lambda: modem.messages() != [], what="the text")
        assert gw.sms.step() == 0
        ((number, text),) = modem.messages()
        assert number == NUMBER
        assert text.startswith("【守望】东村服务站报警：紧急求助，sn-00a3，")
        assert gw.status()["sms"] == {
            "numbers": 1,
            "after_s": 60.0,
            "texts_sent": {"alarm": 1, "accepted": 0},
            "failures": {},
            "last_error": None,
        }
        # The link comes back: the server stores the alarm, a duty officer accepts the case.
        broker.start()
        server = FakeServer(broker.host, broker.port, GW).start()
        try:
            wait_for(lambda: server.seqs() == {1}, what="the alarm at the server")
            server.command(
                {"id": "c1", "op": "ack_level", "device": "sn-00a3", "device_seq": 1, "level": "accepted"}
            )
            wait_for(lambda: gw.status()["sms"]["texts_sent"]["accepted"] == 1, what="the acceptance text")
        finally:
            server.stop()
        (_, accepted) = modem.messages()[1]
        assert accepted.startswith("【守望】东村服务站：") and accepted.endswith(
            "的紧急求助（sn-00a3）已由值班室受理。"
        )
    finally:
        gw.stop()
    report = status_report(gw.settings)
    assert report["sms"] == {"texts_sent": {"alarm": 1, "accepted": 1}, "failures": {}, "last_error": None}


def test_with_the_broker_running_nothing_is_texted(
    tmp_path: Path, broker: Mosquitto, node: PtyNode, modem: ModemStandIn
) -> None:
    clock = FakeClock()
    server = FakeServer(broker.host, broker.port, GW).start()
    gw = station(tmp_path, broker, node, modem, clock)
    gw.start()
    try:
        node.event("00a3", 1, Kind.PANIC)
        wait_for(lambda: server.seqs() == {1}, what="the alarm at the server")
        assert gw.sms is not None
        wait_for(lambda: gw.outbox is not None and gw.outbox.backlog == 0, what="the ack")
        clock.advance(3600)
        assert gw.sms.step() == 0
        assert modem.parts == []
    finally:
        gw.stop()
        server.stop()


def test_the_sms_table_is_checked(tmp_path: Path) -> None:
    raw = {
        "gateway": {"id": GW, "data_dir": str(tmp_path)},
        "sms": {"port": "/dev/gsm-modem", "numbers": ["+86 138"], "after_s": 5},
    }
    with pytest.raises(ConfigError) as exc:
        parse_settings(raw)
    assert str(exc.value) == (
        "sms.numbers[0] '+86 138' is not a phone number (digits, an optional leading +); "
        "sms.after_s: input should be greater than or equal to 10, got 5"
    )
    raw["sms"] = {"port": "/dev/gsm-modem", "numbers": []}
    with pytest.raises(ConfigError) as exc:
        parse_settings(raw)
    assert str(exc.value) == "sms: numbers: give at least one phone number to text"
    raw["sms"] = {"port": "/dev/gsm-modem", "numbers": [NUMBER]}
    assert parse_settings(raw).sms == SmsSettings(port="/dev/gsm-modem", numbers=(NUMBER,))
