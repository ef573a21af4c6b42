"""The gateway process: builds the parts, wires them together and runs them.

``Gateway(settings).start()`` runs everything on background threads and returns, so one
process can host several gateways (the demo does); ``stop()`` shuts them down in order:
adapters first (no new events), then the uplink, then the writer (commits what is queued),
and the station's outputs go to their safe state.

What each part does lives in its own module: ``intake`` (outcomes into the outbox),
``radio_lines`` (radio input decoding, shared with the decode tool), ``command_router``
(server commands), ``siren`` (the siren timer and the outputs' safe state),
``unknown_devices`` (devices heard for pairing), ``downlink`` (lines to nodes), and with a
``[kiosk]`` table the station's page (``gateway.kiosk``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import __version__
from gateway.catalog import check_devices, load_device_catalog, without_model
from gateway.command_router import CommandRouter, Pairing
from gateway.commands import NodeCommands
from gateway.config import DeviceSettings, GatewaySettings, SmsSettings, load_settings
from gateway.counters import Counters
from gateway.decoding import BleTracker, RfMapper
from gateway.downlink import NodeDownlink
from gateway.errors import GatewayError
from gateway.intake import Intake
from gateway.outbox import Outbox, OutboxReader, Settled, utcnow
from gateway.outputs import LocalOutputs
from gateway.radio import BleScanner, LineProcess, ScannerFactory
from gateway.radio_lines import RadioLines
from gateway.registry import Registry
from gateway.serial_adapter import NodeLines, SerialPort
from gateway.siren import Siren
from gateway.sms_fallback import SmsFallback
from gateway.store import OutboxWriter
from gateway.supervision import Supervisor
from gateway.unknown_devices import UnknownDevices
from gateway.uplink import Uplink
from hardware.gsm_modem import GsmModem
from protocol import serial_line as sl
from protocol.kinds import Priority
from protocol.payloads import Command, CommandResult
from protocol.topics import Topics

if TYPE_CHECKING:
    from gateway.kiosk.hub import Kiosk
    from gateway.kiosk.web import KioskServer

log = logging.getLogger(__name__)

TICK_S = 0.5


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
        _warn_unsupervised(settings.devices)
        self.registry = Registry(settings.devices)
        self.unknown = UnknownDevices(settings.data_dir, clock=clock)
        self.supervisor = Supervisor(self.registry, self.catalog, monotonic)
        self.radio = RadioLines(
            BleTracker(self.registry.get, self.catalog, clock=monotonic),
            RfMapper(self.registry.get, self.catalog, clock=monotonic,
                     window_s=settings.supervision.rf_repeat_window_s),
        )
        self.outputs = LocalOutputs({name: argv for name, argv in (("siren", settings.outputs.siren),
                                                                  ("relay", settings.outputs.relay)) if argv})
        self.siren = Siren(self.outputs, settings.outputs, self.counters, clock=monotonic)
        self.node_commands = NodeCommands(self._publish_result, clock=monotonic)
        self.pairing = Pairing(monotonic)
        self.downlink = NodeDownlink(self.registry, lambda: list(self.ports))
        self.outbox: Outbox | None = None
        self.writer: OutboxWriter | None = None
        self.intake: Intake | None = None
        self.router: CommandRouter | None = None
        self.uplink: Uplink | None = None
        self.kiosk: Kiosk | None = None
        self.kiosk_server: KioskServer | None = None
        self.ports: list[SerialPort] = []
        self.scanner: BleScanner | None = None
        self.receivers: list[LineProcess] = []
        self._ble_factory = ble_factory
        self._reader: OutboxReader | None = None
        self.sms: SmsFallback | None = None
        self._lock = threading.Lock()
        self._running = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            s = self.settings
            # A crash may have left the siren on with nobody to switch it off.
            self.siren.safe_state()
            self.unknown.open()
            self.unknown.forget(d.id for d in self.registry.known())
            self.outbox = Outbox(s.outbox_path, s.id, max_bytes=s.outbox.max_bytes,
                                 dedup_window_s=s.outbox.dedup_window_s, clock=self.clock)
            self.writer = writer = OutboxWriter(self.outbox, self.counters)
            self.radio.ble.restore(self.outbox.load_ble())
            kiosk = self._open_kiosk()
            self.intake = intake = Intake(writer, self.radio, self.supervisor, self.unknown, self.counters,
                                          now=self.now)
            self.router = CommandRouter(writer=writer, downlink=self.downlink,
                                        node_commands=self.node_commands, siren=self.siren,
                                        outputs=self.outputs, unknown=self.unknown, pairing=self.pairing,
                                        reload=self._reload_count, on_accepted=self._accepted,
                                        on_ack_level=kiosk.ack_level if kiosk is not None else None,
                                        extra_ops=kiosk.command_ops() if kiosk is not None else None)
            self._reader = OutboxReader(s.outbox_path, s.id)
            if s.sms is not None:
                self.sms = self._sms_fallback(s.sms, self._reader)
            self.uplink = Uplink(s, self._reader, writer, self.counters, status=self.status,
                                 on_command=self.router.route, on_settled=self._settled,
                                 channels=[kiosk.channel] if kiosk is not None else (), clock=self.monotonic)
            writer.on_stored = self.uplink.wake
            writer.on_new = self.siren.on_new_events
            if kiosk is not None:
                writer.on_committed = kiosk.committed
            writer.start()
            if kiosk is not None:
                kiosk.start()
            for ps in s.serial:
                port = SerialPort(ps, self.counters)
                if ps.kind == "rflink":
                    port.handler = intake.rflink_line
                else:
                    port.handler = NodeLines(
                        writer, self.registry, self.counters, port.write, route=port, clock=self.now,
                        on_rf=intake.bridge_code, on_result=self._node_result, on_heard=intake.heard_node,
                        unknown=self.unknown,
                    ).handle
                self.ports.append(port)
            if s.ble.enabled:
                self.scanner = BleScanner(s.ble, intake.ble_advert, self.counters, factory=self._ble_factory)
            if s.rtl433.command:
                self.receivers.append(LineProcess(s.rtl433.command, intake.rtl433_line, self.counters))
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick_loop, name="gateway-tick", daemon=True)
            for port in self.ports:
                port.start()
            if self.scanner is not None:
                self.scanner.start()
            for rx in self.receivers:
                rx.start()
            self.uplink.start()
            if self.sms is not None:
                self.sms.start()
            self._ticker.start()
            if self.kiosk_server is not None:
                self.kiosk_server.start()
            self._running = True
            log.info("gateway %s started (%d serial ports, BLE %s, %d devices)", s.id, len(self.ports),
                     "on" if self.scanner else "off", len(s.devices))

    def stop(self) -> None:
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._stop.set()
            if self.kiosk_server is not None:
                self.kiosk_server.stop()  # no more staff requests; the open pages see it
                self.kiosk_server = None
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
            if self.sms is not None:
                self.sms.stop()
                self.sms = None
            if self.writer is not None:
                self.writer.stop()
            if self.kiosk is not None:
                self.kiosk.stop()  # after the writer: what it committed last reaches the board
                self.kiosk = None
            if self._reader is not None:
                self._reader.close()
            if self.outbox is not None:
                self.outbox.close()
            self.unknown.close()
            # A stopped gateway cannot end the siren's time: switch it off now.
            self.siren.safe_state()
            log.info("gateway %s stopped", self.settings.id)

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick_loop(self) -> None:
        every = self.settings.supervision.check_every_s
        next_check = self.monotonic() + every
        while not self._stop.wait(TICK_S):
            try:
                self.node_commands.tick()
                self.siren.tick()
                if self.monotonic() >= next_check:
                    next_check = self.monotonic() + every
                    self.supervise()
                if self.unknown.dirty:
                    self.unknown.save()
            except Exception:
                self.counters.inc("errors.tick")
                log.exception("periodic work failed")

    def _open_kiosk(self) -> Kiosk | None:
        """The kiosk and its listening socket, before any thread starts: a port that cannot be
        bound stops the start-up with nothing left running."""
        s = self.settings
        if s.kiosk is None:
            return None
        from gateway.kiosk.hub import Kiosk, StationParts
        from gateway.kiosk.web import KioskServer

        assert self.writer is not None
        writer = self.writer
        parts = StationParts(registry=self.registry, catalog=self.catalog, supervisor=self.supervisor,
                             siren=self.siren, unknown=self.unknown, counters=self.counters,
                             status=self.status, reload=self._reload_count, raise_level=writer.raise_level,
                             tell_node=self.downlink.tell, wake_uplink=self._wake_uplink)
        kiosk = Kiosk(s.id, s.data_dir, s.kiosk, parts, topics=Topics(s.mqtt.prefix),
                      resend_after_s=s.mqtt.resend_after_s, outbox_path=s.outbox_path, config_path=s.source,
                      monotonic=self.monotonic, now=self.now)
        try:
            self.kiosk_server = KioskServer(kiosk, s.kiosk)
        except GatewayError:
            kiosk.stop()
            assert self.outbox is not None
            self.outbox.close()
            self.unknown.close()
            raise
        self.kiosk = kiosk
        return kiosk

    def _wake_uplink(self) -> None:
        if self.uplink is not None:
            self.uplink.wake()

    def _settled(self, rows: list[Settled]) -> None:
        """The server acked these rows: nodes hear ``delivered``, the board shows it."""
        self.downlink.settled(rows)
        if self.kiosk is not None:
            self.kiosk.settled(rows)

    # --- entry points (tests, the demo and the receivers' boundaries) --------------------------

    def ble_advert(self, mac: str, service_data: bytes, rssi: int | None = None) -> None:
        """The advertisement boundary: BTHome service data as the scanner received it."""
        if self.intake is not None:
            self.intake.ble_advert(mac, service_data, rssi)

    def rtl433_line(self, line: bytes) -> None:
        if self.intake is not None:
            self.intake.rtl433_line(line)

    def supervise(self) -> None:
        if self.intake is not None:
            self.intake.supervise()

    def command(self, cmd: Command) -> CommandResult | None:
        if self.router is None:
            return CommandResult(cmd.id, False, {"error": "failed", "detail": "gateway not running"})
        return self.router.route(cmd)

    def reload(self) -> None:
        """Re-read the device list from the config file (pairing adds devices there)."""
        self._reload_count()

    def _reload_count(self) -> int:
        if self.settings.source is None:
            raise GatewayError("settings were not loaded from a file")
        fresh = load_settings(self.settings.source)
        check_devices(self.catalog, fresh.devices)
        _warn_unsupervised(fresh.devices)
        self.registry.replace_devices(fresh.devices)
        self.unknown.forget(d.id for d in fresh.devices)
        log.info("reloaded %d devices from %s", len(fresh.devices), self.settings.source)
        return self.registry.count()

    # --- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        backlog = self.outbox.backlog if self.outbox is not None else 0
        return {
            "gateway": self.settings.id,
            "version": __version__,
            "backlog": backlog,
            "devices": {"known": self.registry.count(), "unknown_seen": len(self.unknown),
                        "missing": len(self.supervisor.missing())},
            "unknown_devices": [u.device for u in self.unknown.seen()[:20]],
            "pairing": self.pairing.active,
            "outputs": dict(self.outputs.state),
            "counters": self.counters.snapshot(),
            "sms": self.sms.status() if self.sms is not None else None,
            **({"kiosk": {"url": self.kiosk_server.url, "pages_open": self.kiosk_server.streams}}
               if self.kiosk_server is not None else {}),
        }

    def _sms_fallback(self, sms: SmsSettings, reader: OutboxReader) -> SmsFallback:
        names = {d.id: d.name or d.id for d in self.settings.devices}
        return SmsFallback(
            numbers=sms.numbers, after_s=sms.after_s, station=sms.station or self.settings.id,
            data_dir=self.settings.data_dir, pending=lambda: reader.pending(priority=Priority.ALARM),
            modem=GsmModem(sms.port, baudrate=sms.baudrate), counters=self.counters,
            describe=lambda device: names.get(device, device), clock=self.clock)

    def _accepted(self, device: str, device_seq: int) -> None:
        if self.sms is not None:
            self.sms.accepted(device, device_seq)

    # --- wiring -----------------------------------------------------------------------------

    def _publish_result(self, result: CommandResult) -> None:
        if self.uplink is not None:
            self.uplink.publish_result(result)

    def _node_result(self, msg: sl.SerialCommandResult) -> None:
        if not self.node_commands.result(msg):
            self.counters.inc("dropped.stale_command_result")


def _warn_unsupervised(devices: Iterable[DeviceSettings]) -> None:
    unsupervised = without_model(devices)
    if unsupervised:
        log.warning("no model, so not supervised (a silent device raises no alarm): %s; name each one's"
                    " model from the device catalog", ", ".join(unsupervised))
