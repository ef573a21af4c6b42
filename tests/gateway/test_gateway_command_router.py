"""Server commands routed without a broker: each op, each refusal, each result as a whole object."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.command_router import AckNotice, CommandRouter, Pairing
from gateway.commands import NodeCommands
from gateway.config import DeviceSettings, OutputSettings
from gateway.counters import Counters
from gateway.downlink import NodeDownlink
from gateway.errors import GatewayError
from gateway.outbox import Outbox
from gateway.outputs import LocalOutputs
from gateway.registry import Registry
from gateway.siren import Siren
from gateway.store import OutboxWriter
from gateway.unknown_devices import UnknownDevices
from protocol.payloads import Command, CommandResult
from tests.gateway.gw_support import FakeClock


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.counters = Counters()
        self.outbox = Outbox(tmp_path / "outbox.db", "gw-test-01")
        self.writer = OutboxWriter(self.outbox, self.counters)
        self.writer.start()
        self.registry = Registry([DeviceSettings("sn-00a3"), DeviceSettings("ble-a4c1388d18b2")])
        self.outputs = LocalOutputs()
        self.siren = Siren(self.outputs, OutputSettings(siren_on_alarm=True), self.counters, clock=self.clock)
        self.unknown = UnknownDevices()
        self.unknown.saw("rf-ev1527-0abcde", "rf", "01")
        self.pairing = Pairing(self.clock)
        self.results: list[CommandResult] = []
        self.reloads = 0
        self.reload_error: GatewayError | None = None
        self.notices: list[AckNotice] = []
        self.router = CommandRouter(
            writer=self.writer, downlink=NodeDownlink(self.registry, lambda: []),
            node_commands=NodeCommands(self.results.append, clock=self.clock), siren=self.siren,
            outputs=self.outputs, unknown=self.unknown, pairing=self.pairing, reload=self._reload,
            on_ack_level=self.notices.append)

    def _reload(self) -> int:
        if self.reload_error is not None:
            raise self.reload_error
        self.reloads += 1
        return 2

    def route(self, op: str, **args: object) -> CommandResult | None:
        return self.router.route(Command("c1", op, dict(args)))

    def close(self) -> None:
        self.writer.stop()
        self.outbox.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


@pytest.mark.parametrize(
    ("op", "args", "expected"),
    [
        ("format_disk", {}, {"error": "unknown_op", "op": "format_disk"}),
        ("ack_level", {"device": "sn-00a3", "device_seq": "7", "level": "delivered"}, {"error": "bad_args"}),
        ("ack_level", {"device": "sn-00a3", "device_seq": True, "level": "delivered"}, {"error": "bad_args"}),
        ("ack_level", {"device": "sn-00a3", "device_seq": 7, "level": "stored"}, {"error": "bad_args"}),
        ("ack_level", {"device": "sn-00a3", "device_seq": 7, "level": "closed", "resolution": 3},
         {"error": "bad_args"}),
        ("ack_level", {"device": "ble-a4c1388d18b2", "device_seq": 7, "level": "accepted"},
         {"error": "unreachable", "detail": "ble-a4c1388d18b2 has no downlink for ack levels"}),
        ("ack_level", {"device": "sn-00a3", "device_seq": 7, "level": "accepted"},
         {"error": "unreachable", "detail": "no serial port for sn-00a3"}),
        ("siren", {"device": "gateway", "on": "yes"},
         {"error": "bad_args", "detail": "on must be true or false"}),
        ("relay", {"device": "gateway"}, {"error": "bad_args", "detail": "on must be true or false"}),
        ("ping", {"device": "gateway", "on": True}, {"error": "unknown_op", "op": "ping"}),
        ("identify", {"device": "ble-a4c1388d18b2"}, {"error": "no_downlink", "device": "ble-a4c1388d18b2"}),
        ("identify", {"device": 5}, {"error": "no_downlink", "device": "5"}),
        ("identify", {"device": "sn-0fff"}, {"error": "unreachable", "device": "sn-0fff"}),
        ("identify", {"device": "sn-00a3"}, {"error": "unreachable", "device": "sn-00a3"}),
        ("start_pairing", {"seconds": 0}, {"error": "bad_args"}),
        ("start_pairing", {"seconds": 3601}, {"error": "bad_args"}),
        ("start_pairing", {"seconds": True}, {"error": "bad_args"}),
    ],
)
def test_refusals(rig: Rig, op: str, args: dict[str, object], expected: dict[str, object]) -> None:
    assert rig.route(op, **args) == CommandResult("c1", False, expected)
    assert not rig.pairing.active and rig.outputs.state == {}


def test_the_stations_own_outputs(rig: Rig) -> None:
    assert rig.route("siren", device="gateway", on=True) == CommandResult("c1", True, {"device": "gateway",
                                                                                       "siren": True})
    assert rig.route("relay", on=True) == CommandResult("c1", True, {"device": "gateway", "relay": True})
    assert rig.outputs.state == {"siren": True, "relay": True}
    rig.siren.on_new_events([])  # nothing new: the timer stays as the command left it
    assert rig.siren.sounding_until is None
    assert rig.route("siren", device="gateway", on=False) == CommandResult("c1", True, {"device": "gateway",
                                                                                        "siren": False})
    assert rig.outputs.state == {"siren": False, "relay": True}


def test_pairing_lists_the_unknown_devices_and_ends_by_itself(rig: Rig) -> None:
    assert rig.route("start_pairing", seconds=60) == CommandResult(
        "c1", True, {"pairing_s": 60, "unknown_devices": ["rf-ev1527-0abcde"]})
    assert rig.pairing.active
    rig.clock.advance(61)
    assert not rig.pairing.active


def test_reload_answers_with_the_device_count_or_the_failure(rig: Rig) -> None:
    assert rig.route("reload_config") == CommandResult("c1", True, {"devices": 2})
    rig.reload_error = GatewayError("settings were not loaded from a file")
    assert rig.route("reload_config") == CommandResult(
        "c1", False, {"error": "failed", "detail": "settings were not loaded from a file"})
    assert rig.reloads == 1


def test_an_ack_level_is_remembered_even_when_the_node_is_unreachable(rig: Rig) -> None:
    from gateway.outbox import LEVEL_ACCEPTED, Incoming, utcnow
    from protocol.kinds import Kind

    done: list[int] = []
    rig.writer.submit(Incoming("sn-00a3", Kind.PANIC, utcnow(), 7, {}, "EV,00a3,7,panic"),
                      lambda res: done.append(res.level))
    rig.route("ack_level", device="sn-00a3", device_seq=7, level="accepted")
    # A retransmission of the same line is answered with the level reached.
    rig.writer.submit(Incoming("sn-00a3", Kind.PANIC, utcnow(), 7, {}, "EV,00a3,7,panic"),
                      lambda res: done.append(res.level))
    rig.writer.stop()
    assert done == [1, LEVEL_ACCEPTED]


def test_a_case_closed_at_the_server_reaches_the_kiosk_and_leaves_the_node_alone(rig: Rig) -> None:
    # Nodes know stored, delivered and accepted only: "closed" is for the station's board, and
    # answers without a serial port to tell (this rig has none).
    result = rig.route("ack_level", device="sn-00a3", device_seq=7, level="closed", event="gw-test-01:42",
                       by="duty-t03", resolution="false_alarm")
    told = {"device": "sn-00a3", "event": "gw-test-01:42", "level": "closed"}
    assert result == CommandResult("c1", True, told)
    assert rig.notices == [AckNotice("sn-00a3", "closed", 7, 42, "duty-t03", "false_alarm")]
