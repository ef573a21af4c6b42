"""The gateway process: outbox writer, adapters, supervision and uplink wired together.

``Gateway(settings).start()`` runs everything on background threads and returns, so one
process can host several gateways (the demo does); ``stop()`` shuts them down in order:
adapters first (no new events), then the uplink, then the writer (commits what is queued).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.catalog import check_devices, load_device_catalog
from gateway.commands import NodeCommands
from gateway.config import GatewaySettings, load_settings
from gateway.counters import Counters
from gateway.decoding import BleTracker, Decoded, Outcome, Rejected, RfMapper, bridge_protocols
from gateway.errors import GatewayError
from gateway.outbox import (
    LEVEL_ACCEPTED,
    LEVEL_DELIVERED,
    Appended,
    BleMemory,
    Incoming,
    Outbox,
    OutboxReader,
    Settled,
    utcnow,
)
from gateway.outputs import LocalOutputs
from gateway.radio import BleScanner, LineProcess, ScannerFactory
from gateway.registry import Registry
from gateway.serial_adapter import NodeLines, SerialPort, ack_line
from gateway.store import AppendCallback, OutboxWriter
from gateway.supervision import Supervisor
from gateway.uplink import Uplink
from protocol import serial_line as sl
from protocol.errors import ProtocolError
from protocol.kinds import Kind, Priority
from protocol.payloads import Command, CommandResult
from protocol.rflink import parse_rflink
from protocol.rtl433 import parse_rtl433

log = logging.getLogger(__name__)

_ACK_LEVELS = {"delivered": LEVEL_DELIVERED, "accepted": LEVEL_ACCEPTED}
NODE_OPS = frozenset({"siren", "relay", "identify", "ping", "status"})
UNKNOWN_FILE = "unknown_devices.json"


class Gateway:
    def __init__(self, settings: GatewaySettings, *, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utcnow,
                 ble_factory: ScannerFactory | None = None,
                 catalog_dir: Path | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.monotonic = monotonic
        self.now = now
        self.counters = Counters()
        # The one device catalog; a broken one, or a device naming a model it lacks, stops here.
        self.catalog = load_device_catalog(settings.devices, catalog_dir)
        self.registry = Registry(settings.devices, clock=clock)
        self.supervisor = Supervisor(self.registry, self.catalog, monotonic)
        self.ble = BleTracker(self.registry.get, self.catalog, clock=monotonic)
        self.rf = RfMapper(self.registry.get, self.catalog, clock=monotonic,
                           window_s=settings.supervision.rf_repeat_window_s)
        self.outputs = LocalOutputs({name: argv for name, argv in (("siren", settings.outputs.siren),
                                                                  ("relay", settings.outputs.relay)) if argv})
        self._siren_until: float | None = None
        self.commands = NodeCommands(self._publish_result, clock=monotonic)
        self.outbox: Outbox | None = None
        self.writer: OutboxWriter | None = None
        self.uplink: Uplink | None = None
        self.ports: list[SerialPort] = []
        self.scanner: BleScanner | None = None
        self.receivers: list[LineProcess] = []
        self.pairing_until = 0.0
        self._ble_factory = ble_factory
        self._reader: OutboxReader | None = None
        self._lock = threading.Lock()
        self._running = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._unknown_dirty = False

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            s = self.settings
            self.outbox = Outbox(s.outbox_path, s.id, max_bytes=s.outbox.max_bytes,
                                 dedup_window_s=s.outbox.dedup_window_s, clock=self.clock)
            self.writer = OutboxWriter(self.outbox, self.counters)
            self.ble.restore(self.outbox.load_ble())
            self._reader = OutboxReader(s.outbox_path, s.id)
            self.uplink = Uplink(s, self._reader, self.writer, self.counters, status=self.status,
                                 on_command=self.command, on_settled=self._settled, clock=self.monotonic)
            self.writer.on_stored = self.uplink.wake
            self.writer.on_new = self._new_events
            self.writer.start()
            for ps in s.serial:
                port = SerialPort(ps, self.counters)
                if ps.kind == "rflink":
                    port.handler = self._rflink_line
                else:
                    port.handler = NodeLines(
                        self.writer, self.registry, self.counters, port.write, route=port, clock=self.now,
                        on_rf=self._bridge_code, on_result=self._node_result, on_heard=self._heard_node,
                    ).handle
                self.ports.append(port)
            if s.ble.enabled:
                self.scanner = BleScanner(s.ble, self.ble_advert, self.counters, factory=self._ble_factory)
            if s.rtl433.command:
                self.receivers.append(LineProcess(s.rtl433.command, self.rtl433_line, self.counters))
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick_loop, name="gateway-tick", daemon=True)
            for port in self.ports:
                port.start()
            if self.scanner is not None:
                self.scanner.start()
            for rx in self.receivers:
                rx.start()
            self.uplink.start()
            self._ticker.start()
            self._running = True
            log.info("gateway %s started (%d serial ports, BLE %s, %d devices)", s.id, len(self.ports),
                     "on" if self.scanner else "off", len(s.devices))

    def stop(self) -> None:
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._stop.set()
            if self._ticker is not None:
                self._ticker.join(5)
            for port in self.ports:
                port.stop()
            self.ports = []
            if self.scanner is not None:
                self.scanner.stop()
                self.scanner = None
            for rx in self.receivers:
                rx.stop()
            self.receivers = []
            if self.uplink is not None:
                self.uplink.stop()
            if self.writer is not None:
                self.writer.stop()
            if self._reader is not None:
                self._reader.close()
            if self.outbox is not None:
                self.outbox.close()
            self._save_unknown()
            log.info("gateway %s stopped", self.settings.id)

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _new_events(self, items: list[Incoming]) -> None:
        """Local first: the station's siren sounds on an alarm whether or not the uplink is up."""
        if not self.settings.outputs.siren_on_alarm:
            return
        if any(i.effective_priority is Priority.ALARM and i.kind is not Kind.PANIC_CANCEL for i in items):
            self._siren_until = self.monotonic() + self.settings.outputs.siren_s
            self.counters.inc("outputs.siren_on_alarm")
            try:
                self.outputs.set("siren", True)
            except GatewayError as exc:
                self.counters.inc("errors.output")
                log.error("%s", exc)

    def _siren_timer(self) -> None:
        if self._siren_until is not None and self.monotonic() >= self._siren_until:
            self._siren_until = None
            try:
                self.outputs.set("siren", False)
            except GatewayError as exc:
                self.counters.inc("errors.output")
                log.error("%s", exc)

    def _tick_loop(self) -> None:
        every = self.settings.supervision.check_every_s
        next_check = self.monotonic() + every
        while not self._stop.wait(0.5):
            try:
                self.commands.tick()
                self._siren_timer()
                if self.monotonic() >= next_check:
                    next_check = self.monotonic() + every
                    self.supervise()
                if self._unknown_dirty:
                    self._save_unknown()
            except Exception:
                self.counters.inc("errors.tick")
                log.exception("periodic work failed")

    # --- ingest -------------------------------------------------------------------------

    def submit(self, decoded: Decoded, transport: str, *, device_seq: int | None = None,
               body: str | None = None, done: AppendCallback | None = None) -> None:
        """One decoded event into the outbox (supervision events included)."""
        if decoded.kind is None or self.writer is None:
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
                    self.registry.saw_unknown(out.device, transport, out.detail)
                    self._unknown_dirty = True
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

    def ble_advert(self, mac: str, service_data: bytes, rssi: int | None = None) -> None:
        """The advertisement boundary: BTHome service data as the scanner received it. The
        tracker's counter and states are stored after the events they produced are committed,
        so a crash in between repeats an event rather than losing it."""
        outcomes = self.ble.feed(mac, service_data, rssi)
        memory = self.ble.take_unsaved()
        if not memory:
            self.ingest(outcomes, "ble")
        elif not self.ingest(outcomes, "ble", done=lambda _: self._remember_ble(memory)) and self.writer:
            self.writer.call(lambda box: self._remember_ble(memory))

    def _remember_ble(self, memory: list[BleMemory]) -> None:
        """On the writer thread."""
        assert self.outbox is not None
        try:
            self.outbox.remember_ble(memory)
        except GatewayError as exc:
            self.counters.inc("errors.outbox")
            log.error("%s", exc)

    def rtl433_line(self, line: bytes) -> None:
        try:
            packet = parse_rtl433(line)
            device = packet.device_id
        except ProtocolError as exc:
            self.counters.inc("dropped.rtl433_%s" % exc.reason)
            return
        self.ingest(self.rf.feed_tokens(device, packet.tokens, {"model": packet.model}), "rf")

    def _rflink_line(self, line: bytes) -> None:
        try:
            packet = parse_rflink(line)
            device = packet.device_id
        except ProtocolError as exc:
            if exc.reason != "not_packet":
                self.counters.inc("dropped.rflink_%s" % exc.reason)
            return
        self.ingest(self.rf.feed_tokens(device, packet.tokens), "rf")

    def _bridge_code(self, msg: sl.SerialRfCode, reply: Callable[[bytes], None]) -> None:
        """A code from our RF bridge. The bridge may retry a line until it is acked, so the
        line is acked like a node's event: after the commit, and a retry is recognised by
        (device, bridge seq, line body) like any retransmission."""
        outcomes = self.rf.feed_code(bridge_protocols(msg), msg.code, {"bridge": "sn-" + msg.node})
        if any(isinstance(o, Rejected) and o.reason == "bad_code" for o in outcomes):
            self.counters.inc("rejected.rf_bad_code")
            reply(sl.encode(sl.SerialNak(msg.node, msg.seq, "bad_code")))
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
        elif self.writer is not None:
            # A repeat or a code with no event: acked once what came before it is committed.
            self.writer.call(lambda box: reply(stored))

    def _heard_node(self, device: str, data: dict[str, Any]) -> None:
        # Nodes report low battery themselves; only presence matters here.
        for extra in self.supervisor.heard(device):
            self.submit(extra, "supervision")

    def supervise(self) -> None:
        for decoded in self.supervisor.check():
            self.submit(decoded, "supervision")

    # --- status and commands ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        backlog = self.outbox.backlog if self.outbox is not None else 0
        return {
            "gateway": self.settings.id,
            "version": __version__,
            "backlog": backlog,
            "devices": {**self.registry.counts(), "missing": len(self.supervisor.missing())},
            "unknown_devices": [u.device for u in self.registry.unknown()[:20]],
            "pairing": self.monotonic() < self.pairing_until,
            "outputs": dict(self.outputs.state),
            "counters": self.counters.snapshot(),
        }

    def _publish_result(self, result: CommandResult) -> None:
        if self.uplink is not None:
            self.uplink.publish_result(result)

    def command(self, cmd: Command) -> CommandResult | None:
        try:
            if cmd.op == "ack_level":
                return self._cmd_ack_level(cmd)
            if cmd.op in NODE_OPS:
                return self._cmd_device(cmd)
            if cmd.op == "reload_config":
                return self._cmd_reload(cmd)
            if cmd.op == "start_pairing":
                seconds = cmd.args.get("seconds", 120)
                if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= 3600:
                    return CommandResult(cmd.id, False, {"error": "bad_args"})
                self.pairing_until = self.monotonic() + seconds
                unknown = [u.device for u in self.registry.unknown()]
                return CommandResult(cmd.id, True, {"pairing_s": seconds, "unknown_devices": unknown})
        except GatewayError as exc:
            return CommandResult(cmd.id, False, {"error": "failed", "detail": str(exc)})
        return CommandResult(cmd.id, False, {"error": "unknown_op", "op": cmd.op})

    def _cmd_ack_level(self, cmd: Command) -> CommandResult:
        device, device_seq, level = cmd.args.get("device"), cmd.args.get("device_seq"), cmd.args.get("level")
        if (not isinstance(device, str) or not isinstance(device_seq, int) or isinstance(device_seq, bool)
                or not isinstance(level, str) or level not in _ACK_LEVELS):
            return CommandResult(cmd.id, False, {"error": "bad_args"})
        if self.writer is not None:
            self.writer.raise_level(device, device_seq, _ACK_LEVELS[level])
        try:
            self._tell(device, device_seq, sl.AckLevel(level))
        except GatewayError as exc:
            return CommandResult(cmd.id, False, {"error": "unreachable", "detail": str(exc)})
        return CommandResult(cmd.id, True, {"device": device, "device_seq": device_seq, "level": level})

    def _cmd_device(self, cmd: Command) -> CommandResult | None:
        device = cmd.args.get("device", "gateway")
        on = cmd.args.get("on")
        if cmd.op in ("siren", "relay") and not isinstance(on, bool):
            return CommandResult(cmd.id, False, {"error": "bad_args", "detail": "on must be true or false"})
        if device == "gateway":
            if cmd.op not in ("siren", "relay"):
                return CommandResult(cmd.id, False, {"error": "unknown_op", "op": cmd.op})
            assert isinstance(on, bool)
            self.outputs.set(cmd.op, on)
            if cmd.op == "siren" and not on:
                self._siren_until = None
            return CommandResult(cmd.id, True, {"device": "gateway", cmd.op: on})
        if not isinstance(device, str) or not device.startswith("sn-"):
            return CommandResult(cmd.id, False, {"error": "no_downlink", "device": str(device)})
        try:
            ports = self._ports_for(device)
        except GatewayError:
            return CommandResult(cmd.id, False, {"error": "unreachable", "device": device})
        args: dict[str, sl.Value] = {}
        if isinstance(on, bool):
            args["on"] = int(on)
        try:
            self.commands.send(cmd.id, device, cmd.op, args, _fan_out(ports))
        except ProtocolError as exc:
            return CommandResult(cmd.id, False, {"error": "bad_args", "detail": str(exc)})
        return None  # answered when the node's CR line arrives, or on timeout

    def _node_result(self, msg: sl.SerialCommandResult) -> None:
        if not self.commands.result(msg):
            self.counters.inc("dropped.stale_command_result")

    def _cmd_reload(self, cmd: Command) -> CommandResult:
        self.reload()
        return CommandResult(cmd.id, True, {"devices": len(self.registry.known())})

    def reload(self) -> None:
        """Re-read the device list from the config file (pairing adds devices there)."""
        if self.settings.source is None:
            raise GatewayError("settings were not loaded from a file")
        fresh = load_settings(self.settings.source)
        check_devices(self.catalog, fresh.devices)
        self.registry.replace_devices(fresh.devices)
        self._unknown_dirty = True
        log.info("reloaded %d devices from %s", len(fresh.devices), self.settings.source)

    def _tell(self, device: str, device_seq: int, level: sl.AckLevel) -> None:
        if not device.startswith("sn-"):
            raise GatewayError("%s has no downlink for ack levels" % device)
        line = ack_line(device[3:], device_seq, level)
        for port in self._ports_for(device):
            port.write(line)

    def _ports_for(self, device: str) -> list[SerialPort]:
        """The port a node was last heard on; for an allowed node not heard since the start
        (a restart between ``stored`` and ``delivered``), every node port: other nodes ignore
        lines that do not carry their id."""
        route = self.registry.route(device)
        if isinstance(route, SerialPort):
            return [route]
        if not self.registry.is_known(device):
            raise GatewayError("%s is not an allowed device" % device)
        ports = [p for p in self.ports if p.settings.kind == "node"]
        if not ports:
            raise GatewayError("no serial port for %s" % device)
        return ports

    def _settled(self, settled: list[Settled]) -> None:
        for row in settled:
            if row.device_seq is None or not row.device.startswith("sn-"):
                continue
            try:
                self._tell(row.device, row.device_seq, sl.AckLevel.DELIVERED)
            except GatewayError as exc:
                log.debug("no delivered ack for %s/%s: %s", row.device, row.device_seq, exc)

    def _save_unknown(self) -> None:
        """Unknown devices seen, for ``shouwang gateway pair`` running in another process."""
        self._unknown_dirty = False
        path = self.settings.data_dir / UNKNOWN_FILE
        rows = [{"device": u.device, "transport": u.transport, "count": u.count, "last_seen": u.last_seen,
                 "detail": u.detail} for u in self.registry.unknown()]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)


def _fan_out(ports: list[SerialPort]) -> Callable[[bytes], None]:
    def write(line: bytes) -> None:
        for port in ports:
            port.write(line)

    return write
