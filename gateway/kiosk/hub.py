"""The kiosk: the board, devices, pairing, monthly test and staff actions behind the page.

The gateway's parts tell it what happened (``committed``, ``settled``, ``ack_level``: from the
outbox writer and uplink threads); those notes go on a queue and the kiosk's own thread applies
them to ``kiosk.db`` and moves the version the page's live streams wait on, so no gateway thread
ever waits for the kiosk. Staff requests arrive on the web server's threads and are answered
once committed. Local first: everything here works with the uplink down.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.catalog import device_transport, model_of
from gateway.command_router import AckNotice
from gateway.config import DeviceSettings
from gateway.counters import Counters
from gateway.errors import GatewayError
from gateway.kiosk.actions import ActionChannel, ActionQueue, ActionRow
from gateway.kiosk.backlog import BacklogReader
from gateway.kiosk.board import CLOSED, FALSE_ALARM, HANDLED, Alarm, Board
from gateway.kiosk.changes import Changes
from gateway.kiosk.db import MB, KioskDb
from gateway.kiosk.devices import DeviceStates, heard_at
from gateway.kiosk.errors import BadInput, Conflict, DiskFull, KioskError, NotFound
from gateway.kiosk.monthly_test import MonthlyTest
from gateway.kiosk.pins import PinStore, StaffSignIn
from gateway.kiosk.settings import KioskSettings
from gateway.outbox import LEVEL_ACCEPTED, LEVEL_STORED, Appended, Incoming, Settled
from gateway.pairing import models_for
from gateway.registry import Registry
from gateway.siren import Siren
from gateway.supervision import Supervisor
from gateway.unknown_devices import UnknownDevices
from hardware.catalog import Catalog
from protocol import serial_line as sl
from protocol.actions import MAX_NOTE, VERBS, ActionResult, StationAction
from protocol.errors import ProtocolError
from protocol.event import event_id, format_time, parse_time
from protocol.kinds import KINDS, Kind
from protocol.payloads import Command, CommandResult
from protocol.pins import check_staff_name
from protocol.topics import Topics

log = logging.getLogger(__name__)

SAVE_EVERY_S = 2.0  # device states and the last delivery time are written this often
MINOR_PUSH_S = 5.0  # a heartbeat's "last heard" reaches the page at most this often
PRUNE_EVERY_S = 3600.0
UNKNOWN_SHOWN = 30  # devices heard for pairing listed on the page, newest first
RETRIES = 30  # a failed update is tried again at this many ticks (a minute) before it is dropped
MAX_RETRYING = 1000


@dataclass(frozen=True, slots=True)
class _Committed:
    items: list[tuple[Incoming, Appended]]


@dataclass(frozen=True, slots=True)
class _Settled:
    seqs: list[int]


@dataclass(frozen=True, slots=True)
class _Ack:
    notice: AckNotice


@dataclass(frozen=True, slots=True)
class _Results:
    done: list[tuple[StationAction, ActionResult]]


_Item = _Committed | _Settled | _Ack | _Results | None


@dataclass(frozen=True, slots=True)
class StationParts:
    """What the kiosk reads and drives of the running gateway (``gateway.daemon`` wires it)."""

    registry: Registry
    catalog: Catalog
    supervisor: Supervisor
    siren: Siren
    unknown: UnknownDevices
    counters: Counters
    status: Callable[[], dict[str, Any]]  # the gateway's status payload (SMS fallback state, outputs)
    reload: Callable[[], int]  # re-reads the allowlist after pairing
    raise_level: Callable[[str, int, int], None]  # the outbox's memory of a node's ack level
    tell_node: Callable[[str, int, sl.AckLevel], None]  # an AK line to a serial node
    wake_uplink: Callable[[], None]


class Kiosk:
    def __init__(self, gateway: str, data_dir: Path, settings: KioskSettings, parts: StationParts, *,
                 topics: Topics, resend_after_s: float, outbox_path: Path, config_path: Path | None,
                 monotonic: Callable[[], float] = time.monotonic, now: Callable[[], datetime]) -> None:
        self.gateway = gateway
        self.settings = settings
        self.parts = parts
        self.config_path = config_path
        self.monotonic = monotonic
        self.now = now
        self.station = settings.station or gateway
        self.db = KioskDb(data_dir, max_bytes=settings.max_db_mb * MB, reserve_bytes=settings.reserve_mb * MB)
        self.pins = PinStore(self.db)
        self.sign_in = StaffSignIn(self.pins, idle_s=settings.session_idle_s, clock=monotonic)
        self.queue = ActionQueue(self.db)
        self.board = Board(self.db, gateway)
        self.devices = DeviceStates(self.db)
        self.test = MonthlyTest(self.db)
        self.backlog = BacklogReader(outbox_path, monotonic)
        self.changes = Changes()
        self.channel = ActionChannel(self.queue, topics, gateway, parts.counters,
                                     deliverable=self.board.is_delivered, on_results=self._results,
                                     on_link=self._link, now=now, resend_after_s=resend_after_s)
        self._inbox: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="kiosk", daemon=True)
        self._state_lock = threading.Lock()
        self._link_up = False
        self._link_since = format_time(now())
        self._last_delivery: str | None = None
        self._sightings: tuple[int, tuple[tuple[str, int], ...]] = (0, ())
        self._retry: list[tuple[_Item, int]] = []  # updates that failed, and how often

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._catch_up()
        self._thread.start()

    def _catch_up(self) -> None:
        """What a crash may have kept from the board: alarms the outbox committed that the
        kiosk never recorded (they are still in the outbox until the server acks them), and
        alarms the server acked while the kiosk was not told (rows leave the outbox only on the
        server's ack; alarm rows are never evicted)."""
        missed: list[tuple[Incoming, Appended]] = []
        for seq, device, device_seq, kind, at, data in self.backlog.pending_alarms():
            if self.board.get(seq) is None and not self.board.covers(seq, device):
                try:
                    item = Incoming(device, Kind(kind), parse_time(at), device_seq, json.loads(data))
                except (ValueError, ProtocolError):
                    continue
                missed.append((item, Appended(seq, False, LEVEL_STORED)))
        if missed:
            log.warning("kiosk: %d alarms committed before a crash put on the board", len(missed))
            self.board.record(missed)
        waiting = self.board.undelivered()
        if waiting:
            self.board.delivered(set(waiting) - self.backlog.still_pending(waiting))

    def stop(self) -> None:
        if self._thread.is_alive():
            self._inbox.put(None)
            self._thread.join(10)
        self.changes.close()
        self.backlog.close()
        self.db.close()

    # --- what the gateway tells it (any thread; never blocks) ---------------------------------

    def committed(self, items: list[tuple[Incoming, Appended]]) -> None:
        self._inbox.put(_Committed(items))

    def settled(self, rows: list[Settled]) -> None:
        self._inbox.put(_Settled([r.seq for r in rows]))

    def ack_level(self, notice: AckNotice) -> None:
        self._inbox.put(_Ack(notice))

    def _results(self, done: list[tuple[StationAction, ActionResult]]) -> None:
        self._inbox.put(_Results(done))

    def _link(self, up: bool) -> None:
        with self._state_lock:
            if up == self._link_up:
                return
            self._link_up = up
            self._link_since = format_time(self.now())
        log.info("kiosk: uplink %s", "up" if up else "down")
        self.changes.bump()

    # --- the kiosk's thread --------------------------------------------------------------------

    def _run(self) -> None:
        last_save = last_push = last_prune = self.monotonic()
        minor = False
        while True:
            try:
                item = self._inbox.get(timeout=SAVE_EVERY_S)
            except queue.Empty:
                item = _Settled([])  # a tick: time to save, push what is minor, retry a failure
            if item is None:
                self._save()
                return
            tries = 1
            if isinstance(item, _Settled) and not item.seqs and self._retry:
                (item, tries), self._retry = self._retry[0], self._retry[1:]
                tries += 1
            try:
                urgent, more = self._apply(item)
            except Exception as exc:
                self.parts.counters.inc("errors.kiosk")
                log.error("kiosk: an update failed (try %d): %s", tries, exc,
                          exc_info=not isinstance(exc, GatewayError))
                self._keep(item, tries)
                urgent, more = False, False
            minor = minor or more
            if urgent:
                self.changes.bump()
                minor, last_push = False, self.monotonic()
            try:
                now = self.monotonic()
                if now - last_save >= SAVE_EVERY_S:
                    last_save = now
                    self._save()
                    if self._unknown_changed():
                        self.changes.bump()
                if minor and now - last_push >= MINOR_PUSH_S:
                    minor, last_push = False, now
                    self.changes.bump()
                if now - last_prune >= PRUNE_EVERY_S:
                    last_prune = now
                    self.queue.forget_events(self.board.prune(self.now()))
            except Exception as exc:
                self.parts.counters.inc("errors.kiosk")
                log.error("kiosk: periodic work failed: %s", exc, exc_info=not isinstance(exc, GatewayError))

    def _keep(self, item: _Item, tries: int) -> None:
        """An update that failed (kiosk.db full or unwritable) is tried again at the next ticks,
        so a press is not lost from the board; a bounded number of them, for a bounded time."""
        if item is None or (isinstance(item, _Settled) and not item.seqs):
            return
        if tries >= RETRIES or len(self._retry) >= MAX_RETRYING:
            log.error("kiosk: an update was dropped after %d tries", tries)
            return
        self._retry.append((item, tries))

    def _apply(self, item: _Item) -> tuple[bool, bool]:
        """(urgent, minor): whether the page must hear of it now, or within a few seconds."""
        if isinstance(item, _Committed):
            self.backlog.invalidate()
            urgent = bool(self.board.record(item.items))
            incoming = [i for i, _ in item.items]
            urgent = self.devices.observe(incoming) or urgent
            allowed = {d.id for d in self.parts.registry.known()}
            urgent = self.test.observe(incoming, allowed) or urgent
            return urgent, True
        if isinstance(item, _Settled):
            if not item.seqs:
                return False, False
            self.backlog.invalidate()
            with self._state_lock:
                self._last_delivery = format_time(self.now())
            return bool(self.board.delivered(item.seqs)), True
        if isinstance(item, _Ack):
            n = item.notice
            if n.level == "closed":
                how = FALSE_ALARM if n.resolution == "false_alarm" else CLOSED
                card = self.board.closed_at_server(how, n.by or "?", self.now(), seq=n.seq, device=n.device,
                                                   device_seq=n.device_seq)
                return card is not None, False
            if n.level != "accepted":
                return False, False
            card = self.board.accepted(n.by or "?", seq=n.seq, device=n.device, device_seq=n.device_seq)
            return card is not None, False
        if isinstance(item, _Results):
            for action, result in item.done:
                if result.extra.get("state") == "closed":  # the duty room closed it, or this did
                    seq = int(action.event.rpartition(":")[2])
                    self.board.close(seq, CLOSED, str(result.extra.get("closed_by", "")), self.now())
            return True, False
        return False, False

    def _save(self) -> None:
        self.devices.save()

    def _unknown_changed(self) -> bool:
        """Whether the devices heard for pairing, or the allowlist (a pairing from the CLI),
        changed: neither tells the kiosk itself."""
        sightings = (self.parts.registry.count(),
                     tuple((u.device, u.count) for u in self.parts.unknown.seen()[:UNKNOWN_SHOWN]))
        changed = sightings != self._sightings
        self._sightings = sightings
        return changed

    # --- staff requests (web server threads) -----------------------------------------------------

    def act(self, alarm: str, verb: str, note: str, by: str) -> dict[str, Any]:
        """An action on an alarm: queued durably, then sent to the server when it can be."""
        if verb not in VERBS:
            raise BadInput("action must be one of %s" % ", ".join(VERBS), reason="bad_action")
        if len(note) > MAX_NOTE:
            raise BadInput("a note is at most %d characters" % MAX_NOTE, reason="note_too_long")
        card = self._card(alarm)
        if card.closed:
            raise Conflict("this alarm is closed (%s)" % card.closed, reason="alarm_closed")
        action = StationAction(uuid.uuid4().hex, event_id(self.gateway, card.seq), verb, by, self.now(),
                               note.strip())
        self.queue.add(action)  # DiskFull here: nothing was promised
        log.info("kiosk: %s marked %s %s (action %s)", by, action.event, verb, action.id)
        if verb == "going":
            self.board.accepted(by, seq=card.seq, by_server=False)
            self._tell_accepted(card)
        else:
            self.board.close(card.seq, HANDLED if verb == "handled" else FALSE_ALARM, by, action.at)
        self.changes.bump()
        self.parts.wake_uplink()
        return {"id": action.id, "event": action.event, "queued": True}

    def _card(self, alarm: str) -> Alarm:
        gateway, _, seq = alarm.rpartition(":")
        card = self.board.get(int(seq)) if gateway == self.gateway and seq.isdigit() else None
        if card is None:
            raise NotFound("this alarm is no longer on the board", reason="no_such_alarm")
        return card

    def _tell_accepted(self, card: Alarm) -> None:
        """Local first: a person at the station is going, so the device hears ``accepted`` now."""
        device_seq = card.last_device_seq if card.last_device_seq is not None else card.device_seq
        if device_seq is None or device_transport(card.device) != "serial":
            return
        self.parts.raise_level(card.device, device_seq, LEVEL_ACCEPTED)
        try:
            self.parts.tell_node(card.device, device_seq, sl.AckLevel.ACCEPTED)
        except GatewayError as exc:
            log.info("kiosk: %s not told accepted now (%s); a retransmission hears it", card.device, exc)

    def silence(self, by: str) -> None:
        try:
            self.parts.siren.command(False)
        except GatewayError as exc:
            raise KioskError(str(exc), reason="siren_failed") from None
        log.warning("station siren silenced at the kiosk by %s", by)
        self.changes.bump()

    def pair(self, by: str, device: str, name: str, *, model: str = "", kind: str = "",
             location: str = "") -> dict[str, Any]:
        """Add a device heard by the station to its allowlist: the CLI's ``pair``, then reload."""
        from gateway.pairing import add_device

        if self.config_path is None:
            raise Conflict("this gateway was not started from a config file", reason="no_config_file")
        if not name.strip():
            raise BadInput("a device needs a name staff will read", reason="name_required")
        if kind and kind not in KINDS:
            raise BadInput("kind %r is not an event kind" % kind, reason="bad_kind")
        self.db.check_room()
        try:
            add_device(self.config_path, device, name.strip(), kind=kind, location=location.strip(),
                       model=model)
            count = self.parts.reload()
        except GatewayError as exc:
            raise BadInput(str(exc), reason="pairing_failed") from None
        log.info("kiosk: %s paired %s (%s); %d devices allowed", by, device, name, count)
        self.changes.bump()
        return {"device": device, "devices": count}

    def start_test(self, by: str) -> None:
        self.test.start(by, self.now())
        self.changes.bump()

    def finish_test(self, by: str) -> None:
        self.test.finish(by, self.now())
        self.changes.bump()

    # --- PIN commands from the server (uplink thread) ------------------------------------------

    def command_ops(self) -> dict[str, Callable[[Command], CommandResult]]:
        return {"set_pin": self._set_pin, "remove_pin": self._remove_pin}

    def _set_pin(self, cmd: Command) -> CommandResult:
        name, pin_hash, by = cmd.args.get("name"), cmd.args.get("hash"), cmd.args.get("by", "server")
        if not isinstance(name, str) or not isinstance(pin_hash, str) or not isinstance(by, str):
            return CommandResult(cmd.id, False, {"error": "bad_args"})
        try:
            self.pins.set(name, pin_hash, set_by=by, now=self.now())
        except KioskError as exc:
            return CommandResult(cmd.id, False, {"error": exc.reason, "detail": exc.detail})
        self.sign_in.forget(name)
        self.changes.bump()
        return CommandResult(cmd.id, True, {"name": name})

    def _remove_pin(self, cmd: Command) -> CommandResult:
        name = cmd.args.get("name")
        if not isinstance(name, str):
            return CommandResult(cmd.id, False, {"error": "bad_args"})
        try:
            self.pins.remove(name)
        except KioskError as exc:
            return CommandResult(cmd.id, False, {"error": exc.reason, "detail": exc.detail})
        self.sign_in.forget(name)
        self.changes.bump()
        return CommandResult(cmd.id, True, {"name": name})

    # --- what the page shows ---------------------------------------------------------------------

    def check_name(self, name: str) -> str:
        try:
            return check_staff_name(name)
        except ProtocolError as exc:
            raise BadInput(exc.detail, reason=exc.reason) from None

    def state(self, me: str | None) -> dict[str, Any]:
        known = self.parts.registry.known()
        names = {d.id: d for d in known}
        cards = self.board.cards()
        history = self.queue.for_events([event_id(self.gateway, c.seq) for c in cards])
        status = self.parts.status()
        with self._state_lock:
            link = {"up": self._link_up, "since": self._link_since, "last_delivery": self._last_delivery}
        try:
            self.db.check_room()
            disk_full = False
        except DiskFull:
            disk_full = True
        running, last = self.test.running(), self.test.last_finished()
        ids = [d.id for d in known]
        missing = set(self.parts.supervisor.missing())
        return {
            "station": self.station,
            "gateway": self.gateway,
            "now": format_time(self.now()),
            "lang": self.settings.lang,
            "me": me,
            "idle_s": self.settings.session_idle_s,
            "staff": [s.name for s in self.pins.staff()],
            "link": {**link, "backlog": self.backlog.by_priority(),
                     "actions_queued": self.queue.count_queued(), "sms": status.get("sms")},
            "siren": {"on": bool(status.get("outputs", {}).get("siren", False))},
            "disk_full": disk_full,
            "alarms": [self._card_view(c, names.get(c.device), history.get(event_id(self.gateway, c.seq), []))
                       for c in cards],
            "devices": [self._device_view(d, missing) for d in known],
            "unknown": [{"device": u.device, "transport": u.transport, "count": u.count, "detail": u.detail,
                         "last_seen": format_time(datetime.fromtimestamp(u.last_seen, tz=self.now().tzinfo)),
                         "models": models_for(u.device, self.parts.catalog)}
                        for u in self.parts.unknown.seen()[:UNKNOWN_SHOWN]],
            "test": {"running": running.to_dict(ids) if running else None,
                     "last": last.to_dict(ids) if last else None},
        }

    def _card_view(self, card: Alarm, device: DeviceSettings | None,
                   history: list[ActionRow]) -> dict[str, Any]:
        return {
            **card.to_dict(self.gateway),
            "delivered": self.board.is_delivered(event_id(self.gateway, card.seq)),
            "name": device.name if device is not None and device.name else card.device,
            "location": device.location if device is not None else "",
            "actions": [{"action": h.action.verb, "by": h.action.by, "at": format_time(h.action.at),
                         "note": h.action.note, "state": h.state, "reason": h.reason, "detail": h.detail}
                        for h in history],
        }

    def _device_view(self, d: DeviceSettings, missing_now: set[str]) -> dict[str, Any]:
        model = model_of(self.parts.catalog, d)
        state = self.devices.get(d.id)
        missing = d.id in missing_now or state.missing
        return {
            "id": d.id, "name": d.name or d.id, "location": d.location, "model": d.model,
            "model_name": model.name_zh if model is not None else "",
            "model_name_en": model.name if model is not None else "",
            "transport": device_transport(d.id), "supervised": bool(model is not None and model.supervised),
            "battery": state.battery, "rssi": state.rssi, "low_battery": state.low_battery,
            "tamper": state.tamper, "missing": missing,
            "last_heard": heard_at(self.parts.supervisor.heard_at(d.id), self.monotonic(), self.now())
            or state.last_event_at,
            "last_kind": state.last_kind,
        }
