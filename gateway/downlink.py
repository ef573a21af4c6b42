"""Lines to our serial nodes: ack levels after the fact (``delivered``, ``accepted``) and the
ports a command for a node goes out on."""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway.errors import GatewayError
from gateway.outbox import Settled
from gateway.registry import Registry
from gateway.serial_adapter import SerialPort, ack_line
from protocol import serial_line as sl

log = logging.getLogger(__name__)


class NodeDownlink:
    def __init__(self, registry: Registry, ports: Callable[[], list[SerialPort]]) -> None:
        self.registry = registry
        self.ports = ports  # the running gateway's serial ports

    def ports_for(self, device: str) -> list[SerialPort]:
        """The port a node was last heard on; for an allowed node not heard since the start
        (a restart between ``stored`` and ``delivered``), every node port: other nodes ignore
        lines that do not carry their id."""
        route = self.registry.route(device)
        if isinstance(route, SerialPort):
            return [route]
        if not self.registry.is_known(device):
            raise GatewayError("%s is not an allowed device" % device)
        ports = [p for p in self.ports() if p.settings.kind == "node"]
        if not ports:
            raise GatewayError("no serial port for %s" % device)
        return ports

    def tell(self, device: str, device_seq: int, level: sl.AckLevel) -> None:
        if not device.startswith("sn-"):
            raise GatewayError("%s has no downlink for ack levels" % device)
        line = ack_line(device[3:], device_seq, level)
        for port in self.ports_for(device):
            port.write(line)

    def settled(self, rows: list[Settled]) -> None:
        """The server acked these rows: each node hears ``delivered`` for its event."""
        for row in rows:
            if row.device_seq is None or not row.device.startswith("sn-"):
                continue
            try:
                self.tell(row.device, row.device_seq, sl.AckLevel.DELIVERED)
            except GatewayError as exc:
                log.debug("no delivered ack for %s/%s: %s", row.device, row.device_seq, exc)

    def writer_to(self, device: str) -> Callable[[bytes], None]:
        """One function writing a line to every port the node may be on."""
        ports = self.ports_for(device)

        def write(line: bytes) -> None:
            for port in ports:
                port.write(line)

        return write
