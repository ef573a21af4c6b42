"""Outcomes into the outbox: events submitted, rejections counted, unknown devices listed for
pairing, and supervision told which devices were heard. The radio receivers' lines arrive here
through ``RadioLines``, the same decoding ``shouwang gateway decode`` shows."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway.counters import Counters
from gateway.decoding import Decoded, Outcome, Rejected
from gateway.errors import GatewayError
from gateway.outbox import Appended, BleMemory, Incoming
from gateway.radio_lines import BAD_CODE, RadioLines
from gateway.serial_adapter import ack_line
from gateway.store import AppendCallback, OutboxWriter
from gateway.supervision import Supervisor
from gateway.unknown_devices import UnknownDevices
from protocol import serial_line as sl

log = logging.getLogger(__name__)


class Intake:
    def __init__(self, writer: OutboxWriter, radio: RadioLines, supervisor: Supervisor,
                 unknown: UnknownDevices, counters: Counters, *, now: Callable[[], datetime]) -> None:
        self.writer = writer
        self.radio = radio
        self.supervisor = supervisor
        self.unknown = unknown
        self.counters = counters
        self.now = now

    # --- outcomes -----------------------------------------------------------------------------

    def submit(self, decoded: Decoded, transport: str, *, device_seq: int | None = None,
               body: str | None = None, done: AppendCallback | None = None) -> None:
        """One decoded event into the outbox (supervision events included)."""
        if decoded.kind is None:
            return
        self.writer.submit(Incoming(device=decoded.device, kind=decoded.kind, at=self.now(),
                                    device_seq=decoded.device_seq if device_seq is None else device_seq,
                                    data=dict(decoded.data), body=body), done)
        self.counters.inc("events.%s" % transport)

    def ingest(self, outcomes: list[Outcome], transport: str, *, device_seq: int | None = None,
               body: str | None = None, done: AppendCallback | None = None) -> int:
        """Decoded events into the outbox, rejections into counters and sightings. ``done``
        (with ``device_seq`` and ``body``, the retransmission key) follows the last event
        submitted; returns how many were submitted."""
        heard: set[str] = set()
        events = [o for o in outcomes if isinstance(o, Decoded) and o.kind is not None]
        submitted = 0
        for out in outcomes:
            if isinstance(out, Rejected):
                self.counters.inc("rejected.%s" % out.reason)
                if out.reason == "unknown_device" and out.device is not None:
                    self.unknown.saw(out.device, transport, out.detail)
                elif out.reason in ("duplicate", "unmapped_code") and out.device is not None:
                    heard.add(out.device)
                continue
            heard.add(out.device)
            if out.kind is not None:
                submitted += 1
                last = submitted == len(events)
                self.submit(out, transport, device_seq=device_seq, body=body, done=done if last else None)
            for extra in self.supervisor.heard(out.device, out.data):
                self.submit(extra, "supervision")
            heard.discard(out.device)
        for device in heard:
            for extra in self.supervisor.heard(device):
                self.submit(extra, "supervision")
        return submitted

    def heard_node(self, device: str, data: dict[str, Any]) -> None:
        # Nodes report low battery themselves; only presence matters here.
        for extra in self.supervisor.heard(device):
            self.submit(extra, "supervision")

    def supervise(self) -> None:
        for decoded in self.supervisor.check():
            self.submit(decoded, "supervision")

    # --- radio receivers ----------------------------------------------------------------------

    def ble_advert(self, mac: str, service_data: bytes, rssi: int | None = None) -> None:
        """The tracker's counter and states are stored after the events they produced are
        committed, so a crash in between repeats an event rather than losing it."""
        outcomes = self.radio.ble_advert(mac, service_data, rssi)
        memory = self.radio.ble.take_unsaved()
        if not memory:
            self.ingest(outcomes, "ble")
        elif not self.ingest(outcomes, "ble", done=lambda _: self._remember_ble(memory)):
            self.writer.call(lambda box: self._remember_ble(memory))

    def _remember_ble(self, memory: list[BleMemory]) -> None:
        """On the writer thread."""
        try:
            self.writer.outbox.remember_ble(memory)
        except GatewayError as exc:
            self.counters.inc("errors.outbox")
            log.error("%s", exc)

    def rtl433_line(self, line: bytes) -> None:
        outcomes = self.radio.rtl433_line(line)
        if not self._unreadable(outcomes, "rtl433"):
            self.ingest(outcomes, "rf")

    def rflink_line(self, line: bytes) -> None:
        outcomes = self.radio.rflink_line(line)
        if not self._unreadable(outcomes, "rflink"):
            self.ingest(outcomes, "rf")

    def bridge_code(self, msg: sl.SerialRfCode, reply: Callable[[bytes], None]) -> None:
        """A code from our RF bridge. The bridge may retry a line until it is acked, so the
        line is acked like a node's event: after the commit, and a retry is recognised by
        (device, bridge seq, line body) like any retransmission."""
        outcomes = self.radio.bridge_code(msg)
        if any(isinstance(o, Rejected) and o.reason == BAD_CODE for o in outcomes):
            self.counters.inc("rejected.rf_bad_code")
            reply(sl.encode(sl.SerialNak(msg.node, msg.seq, BAD_CODE)))
            return
        body = sl.encode(msg).rpartition(b"*")[0].decode("ascii")
        stored = ack_line(msg.node, msg.seq, sl.AckLevel.STORED)

        def acked(result: Appended) -> None:
            reply(stored)

        if self.ingest(outcomes, "rf", device_seq=msg.seq, body=body, done=acked):
            return
        reasons = {o.reason for o in outcomes if isinstance(o, Rejected)}
        if "unknown_device" in reasons or "unmapped_code" in reasons:
            reason = "unknown_device" if "unknown_device" in reasons else "unmapped_code"
            reply(sl.encode(sl.SerialNak(msg.node, msg.seq, reason)))
        else:
            # A repeat or a code with no event: acked once what came before it is committed.
            self.writer.call(lambda box: reply(stored))

    def _unreadable(self, outcomes: list[Outcome], receiver: str) -> bool:
        """A line the receiver's parser refused: counted (RFLink's own chatter is not)."""
        if len(outcomes) == 1 and isinstance(outcomes[0], Rejected) and outcomes[0].device is None:
            if outcomes[0].reason != "not_packet" or receiver != "rflink":
                self.counters.inc("dropped.%s_%s" % (receiver, outcomes[0].reason))
            return True
        return False
