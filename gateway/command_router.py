"""Server commands (``cmd``) to what carries them out: ack levels and commands for nodes, the
station's own outputs, pairing and reloading the device list. Each op's arguments are checked
here; an answer that must wait for a node comes later through ``NodeCommands``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.commands import NodeCommands
from gateway.downlink import NodeDownlink
from gateway.errors import GatewayError
from gateway.outbox import LEVEL_ACCEPTED, LEVEL_DELIVERED
from gateway.outputs import LocalOutputs
from gateway.siren import Siren
from gateway.store import OutboxWriter
from gateway.unknown_devices import UnknownDevices
from protocol import serial_line as sl
from protocol.errors import ProtocolError
from protocol.payloads import Command, CommandResult

ACK_LEVELS = {"delivered": LEVEL_DELIVERED, "accepted": LEVEL_ACCEPTED}
CLOSED = "closed"  # the duty room closed the case: for the kiosk's board; nodes know no such level
NODE_OPS = frozenset({"siren", "relay", "identify", "ping", "status"})
MAX_PAIRING_S = 3600


@dataclass(frozen=True, slots=True)
class AckNotice:
    """An ack level the server sent for an alarm, as the kiosk's board takes it: the event's
    outbox seq when the server names it (``event``), the device's own seq, who accepted."""

    device: str
    level: str
    device_seq: int | None = None
    seq: int | None = None
    by: str = ""
    resolution: str = ""  # with level "closed": resolved, false_alarm or cancelled


OpHandler = Callable[[Command], CommandResult]


class Pairing:
    """How long the station is in pairing mode (``start_pairing``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._until = 0.0

    def start(self, seconds: float) -> None:
        with self._lock:
            self._until = self.clock() + seconds

    @property
    def active(self) -> bool:
        with self._lock:
            return self.clock() < self._until


class CommandRouter:
    def __init__(self, *, writer: OutboxWriter, downlink: NodeDownlink, node_commands: NodeCommands,
                 siren: Siren, outputs: LocalOutputs, unknown: UnknownDevices, pairing: Pairing,
                 reload: Callable[[], int],
                 on_accepted: Callable[[str, int], None] | None = None,
                 on_ack_level: Callable[[AckNotice], None] | None = None,
                 extra_ops: Mapping[str, OpHandler] | None = None) -> None:
        self.writer = writer
        self.downlink = downlink
        self.node_commands = node_commands
        self.siren = siren
        self.outputs = outputs
        self.unknown = unknown
        self.pairing = pairing
        self.reload = reload  # re-reads the device list, returns how many devices are allowed
        self.on_accepted = on_accepted  # the SMS fallback texts that the case was accepted
        self.on_ack_level = on_ack_level  # the kiosk's board
        self.extra_ops = dict(extra_ops or {})  # ops of other parts (the kiosk's staff PINs)

    def route(self, cmd: Command) -> CommandResult | None:
        """The result, or None when it follows once a node has answered."""
        try:
            if cmd.op == "ack_level":
                return self._ack_level(cmd)
            if cmd.op in NODE_OPS:
                return self._device_op(cmd)
            if cmd.op == "reload_config":
                return CommandResult(cmd.id, True, {"devices": self.reload()})
            if cmd.op == "start_pairing":
                return self._start_pairing(cmd)
            if cmd.op in self.extra_ops:
                return self.extra_ops[cmd.op](cmd)
        except GatewayError as exc:
            return CommandResult(cmd.id, False, {"error": "failed", "detail": str(exc)})
        return CommandResult(cmd.id, False, {"error": "unknown_op", "op": cmd.op})

    def _ack_level(self, cmd: Command) -> CommandResult:
        """The device's ack level (``device_seq``: our serial nodes), and the kiosk's board
        (``event``, the alarm's event id, and ``by``, who accepted: any device)."""
        device, device_seq, level = cmd.args.get("device"), cmd.args.get("device_seq"), cmd.args.get("level")
        event, by = cmd.args.get("event"), cmd.args.get("by", "")
        seq = _event_seq(event)
        node_seq = device_seq is not None and isinstance(device_seq, int) and not isinstance(device_seq, bool)
        resolution = cmd.args.get("resolution", "")
        if (not isinstance(device, str) or not isinstance(level, str)
                or (level not in ACK_LEVELS and level != CLOSED)
                or not isinstance(by, str) or not isinstance(resolution, str)
                or (event is not None and seq is None)
                or (device_seq is not None and not node_seq) or (device_seq is None and seq is None)):
            return CommandResult(cmd.id, False, {"error": "bad_args"})
        if self.on_ack_level is not None:
            self.on_ack_level(AckNotice(device, level, device_seq, seq, by, resolution))
        if device_seq is None or level == CLOSED:
            return CommandResult(cmd.id, True, {"device": device, "event": event, "level": level})
        self.writer.raise_level(device, device_seq, ACK_LEVELS[level])
        if level == "accepted" and self.on_accepted is not None:
            self.on_accepted(device, device_seq)
        try:
            self.downlink.tell(device, device_seq, sl.AckLevel(level))
        except GatewayError as exc:
            return CommandResult(cmd.id, False, {"error": "unreachable", "detail": str(exc)})
        return CommandResult(cmd.id, True, {"device": device, "device_seq": device_seq, "level": level})

    def _device_op(self, cmd: Command) -> CommandResult | None:
        device = cmd.args.get("device", "gateway")
        on = cmd.args.get("on")
        if cmd.op in ("siren", "relay") and not isinstance(on, bool):
            return CommandResult(cmd.id, False, {"error": "bad_args", "detail": "on must be true or false"})
        if device == "gateway":
            if cmd.op not in ("siren", "relay") or not isinstance(on, bool):  # identify, ping, status
                return CommandResult(cmd.id, False, {"error": "unknown_op", "op": cmd.op})
            if cmd.op == "siren":
                self.siren.command(on)
            else:
                self.outputs.set(cmd.op, on)
            return CommandResult(cmd.id, True, {"device": "gateway", cmd.op: on})
        if not isinstance(device, str) or not device.startswith("sn-"):
            return CommandResult(cmd.id, False, {"error": "no_downlink", "device": str(device)})
        try:
            write = self.downlink.writer_to(device)
        except GatewayError:
            return CommandResult(cmd.id, False, {"error": "unreachable", "device": device})
        args: dict[str, sl.Value] = {}
        if isinstance(on, bool):
            args["on"] = int(on)
        try:
            self.node_commands.send(cmd.id, device, cmd.op, args, write)
        except ProtocolError as exc:
            return CommandResult(cmd.id, False, {"error": "bad_args", "detail": str(exc)})
        return None  # answered when the node's CR line arrives, or on timeout

    def _start_pairing(self, cmd: Command) -> CommandResult:
        seconds = cmd.args.get("seconds", 120)
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= MAX_PAIRING_S:
            return CommandResult(cmd.id, False, {"error": "bad_args"})
        self.pairing.start(seconds)
        unknown = [u.device for u in self.unknown.seen()]
        return CommandResult(cmd.id, True, {"pairing_s": seconds, "unknown_devices": unknown})


def _event_seq(event: object) -> int | None:
    """The outbox seq of an event id ``<gateway>:<seq>``; None for anything else."""
    if not isinstance(event, str):
        return None
    _, sep, seq = event.rpartition(":")
    return int(seq) if sep and seq.isdigit() and len(seq) <= 19 else None
