"""Radio input -> outcomes: RFLink lines, rtl_433 JSON lines, our RF bridge's codes and BTHome
adverts. The live gateway and ``shouwang gateway decode`` call the same object, so what the
technician sees is what the gateway does.

A line that cannot be read becomes ``Rejected(None, reason, detail)``; what the caller does
with an outcome (store it, count it, print it) is the caller's business.
"""

from __future__ import annotations

from gateway.decoding import BleTracker, Outcome, Rejected, RfMapper, bridge_protocols
from protocol import serial_line as sl
from protocol.errors import ProtocolError
from protocol.ids import serial_device_id
from protocol.rflink import parse_rflink
from protocol.rtl433 import parse_rtl433

# The reason of an RF bridge code that no protocol's rule splits into an id (``RfMapper``).
BAD_CODE = "bad_code"


class RadioLines:
    def __init__(self, ble: BleTracker, rf: RfMapper) -> None:
        self.ble = ble
        self.rf = rf

    def rflink_line(self, line: str | bytes) -> list[Outcome]:
        """One RFLink line; its banner, ``OK`` and ``PONG`` lines are ``not_packet``."""
        try:
            packet = parse_rflink(line)
            device = packet.device_id
        except ProtocolError as exc:
            return [Rejected(None, exc.reason, exc.detail)]
        return self.rf.feed_tokens(device, packet.tokens)

    def rtl433_line(self, line: str | bytes) -> list[Outcome]:
        try:
            packet = parse_rtl433(line)
            device = packet.device_id
        except ProtocolError as exc:
            return [Rejected(None, exc.reason, exc.detail)]
        return self.rf.feed_tokens(device, packet.tokens, {"model": packet.model})

    def bridge_code(self, msg: sl.SerialRfCode) -> list[Outcome]:
        """A code our RF bridge heard, split by the catalog's rule for each protocol it may be
        in; ``data.bridge`` names the bridge node."""
        try:
            bridge = serial_device_id(msg.node)
        except ProtocolError as exc:
            return [Rejected(None, BAD_CODE, str(exc))]
        return self.rf.feed_code(bridge_protocols(msg), msg.code, {"bridge": bridge})

    def ble_advert(self, mac: str, service_data: bytes, rssi: int | None = None) -> list[Outcome]:
        return self.ble.feed(mac, service_data, rssi)
