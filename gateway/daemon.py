"""The gateway process: outbox writer, adapters and uplink wired together.

``Gateway(settings).start()`` runs everything on background threads and returns, so one
process can host several gateways (the demo does); ``stop()`` shuts them down in order:
adapters first (no new events), then the uplink, then the writer (commits what is queued).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from gateway import __version__
from gateway.config import GatewaySettings
from gateway.counters import Counters
from gateway.errors import GatewayError
from gateway.outbox import LEVEL_ACCEPTED, LEVEL_DELIVERED, Outbox, OutboxReader, Settled
from gateway.registry import Registry
from gateway.serial_adapter import NodeLines, SerialPort, ack_line
from gateway.store import OutboxWriter
from gateway.uplink import Uplink
from protocol import serial_line as sl
from protocol.payloads import Command, CommandResult

log = logging.getLogger(__name__)

_ACK_LEVELS = {"delivered": LEVEL_DELIVERED, "accepted": LEVEL_ACCEPTED}


class Gateway:
    def __init__(self, settings: GatewaySettings, *, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.monotonic = monotonic
        self.counters = Counters()
        self.registry = Registry(settings.devices, clock=clock)
        self.outbox: Outbox | None = None
        self.writer: OutboxWriter | None = None
        self.uplink: Uplink | None = None
        self.ports: list[SerialPort] = []
        self._reader: OutboxReader | None = None
        self._lock = threading.Lock()
        self._running = False

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            s = self.settings
            self.outbox = Outbox(s.outbox_path, s.id, max_bytes=s.outbox.max_bytes,
                                 dedup_window_s=s.outbox.dedup_window_s, clock=self.clock)
            self.writer = OutboxWriter(self.outbox, self.counters)
            self._reader = OutboxReader(s.outbox_path, s.id)
            self.uplink = Uplink(s, self._reader, self.writer, self.counters, status=self.status,
                                 on_command=self.command, on_settled=self._settled,
                                 clock=self.monotonic)
            self.writer.on_stored = self.uplink.wake
            self.writer.start()
            for ps in s.serial:
                port = SerialPort(ps, self.counters)
                port.handler = NodeLines(self.writer, self.registry, self.counters, port.write,
                                         route=port).handle
                self.ports.append(port)
            for port in self.ports:
                port.start()
            self.uplink.start()
            self._running = True
            log.info("gateway %s started (%d serial ports, %d devices)", s.id, len(self.ports),
                     len(s.devices))

    def stop(self) -> None:
        with self._lock:
            if not self._running:
                return
            self._running = False
            for port in self.ports:
                port.stop()
            self.ports = []
            if self.uplink is not None:
                self.uplink.stop()
            if self.writer is not None:
                self.writer.stop()
            if self._reader is not None:
                self._reader.close()
            if self.outbox is not None:
                self.outbox.close()
            log.info("gateway %s stopped", self.settings.id)

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- status and commands ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        backlog = self.outbox.backlog if self.outbox is not None else 0
        return {
            "gateway": self.settings.id,
            "version": __version__,
            "backlog": backlog,
            "devices": self.registry.counts(),
            "unknown_devices": [u.device for u in self.registry.unknown()[:20]],
            "counters": self.counters.snapshot(),
        }

    def command(self, cmd: Command) -> CommandResult:
        if cmd.op == "ack_level":
            return self._cmd_ack_level(cmd)
        return CommandResult(cmd.id, False, {"error": "unknown_op", "op": cmd.op})

    def _cmd_ack_level(self, cmd: Command) -> CommandResult:
        device, device_seq, level = cmd.args.get("device"), cmd.args.get("device_seq"), cmd.args.get("level")
        if (not isinstance(device, str) or not isinstance(device_seq, int) or isinstance(device_seq, bool)
                or level not in _ACK_LEVELS):
            return CommandResult(cmd.id, False, {"error": "bad_args"})
        assert isinstance(level, str)
        if self.writer is not None:
            self.writer.raise_level(device, device_seq, _ACK_LEVELS[level])
        try:
            self._tell(device, device_seq, sl.AckLevel(level))
        except GatewayError as exc:
            return CommandResult(cmd.id, False, {"error": "unreachable", "detail": str(exc)})
        return CommandResult(cmd.id, True, {"device": device, "device_seq": device_seq, "level": level})

    def _tell(self, device: str, device_seq: int, level: sl.AckLevel) -> None:
        if not device.startswith("sn-"):
            raise GatewayError("%s has no downlink for ack levels" % device)
        route = self.registry.route(device)
        if not isinstance(route, SerialPort):
            raise GatewayError("%s has not been heard on any port yet" % device)
        route.write(ack_line(device[3:], device_seq, level))

    def _settled(self, settled: list[Settled]) -> None:
        for row in settled:
            if row.device_seq is None or not row.device.startswith("sn-"):
                continue
            try:
                self._tell(row.device, row.device_seq, sl.AckLevel.DELIVERED)
            except GatewayError as exc:
                log.debug("no delivered ack for %s/%s: %s", row.device, row.device_seq, exc)
