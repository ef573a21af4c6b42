"""The technician's tools behind ``shouwang gateway status|devices|pair|decode``."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from sqlite_utils import Database

from gateway.catalog import load_device_catalog
from gateway.config import DeviceSettings, GatewaySettings
from gateway.decoding import BleTracker, Decoded, Outcome, Rejected, RfMapper
from gateway.errors import GatewayError
from gateway.outbox import Incoming, Outbox, utcnow
from gateway.pairing import add_device as add_device  # the CLI's and the kiosk's one way to pair
from gateway.radio_lines import RadioLines
from gateway.sms_fallback import read_summary
from gateway.unknown_devices import COLUMNS, DB_FILE, TABLE, Sighting
from protocol import serial_line as sl
from protocol.errors import ProtocolError
from protocol.ids import ble_device_id, serial_device_id

TRANSPORTS = ("ble", "rflink", "rtl433", "serial")


# --- decode --------------------------------------------------------------------------------

class Decoder:
    """One run of ``decode``: duplicate and replay state carries across the lines. Radio input
    goes through the gateway's own ``RadioLines``; serial events through the outbox's
    duplicate rule."""

    def __init__(self, transport: str, *, address: str | None = None, key: bytes | None = None,
                 settings: GatewaySettings | None = None, workdir: Path | None = None) -> None:
        if transport not in TRANSPORTS:
            raise GatewayError("transport must be one of %s" % ", ".join(TRANSPORTS))
        self.transport = transport
        self.address = address
        devices = {d.id: d for d in (settings.devices if settings else ())}
        catalog = load_device_catalog(devices.values())  # what the gateway's start-up loads
        lookup: Callable[[str], DeviceSettings | None] = devices.get
        keys: dict[str, bytes] = {}
        if key is not None and address is not None:
            keys[ble_device_id(address)] = key
        self.radio = RadioLines(BleTracker(lookup, catalog, keys=keys, allow_unknown=True),
                                RfMapper(lookup, catalog, allow_unknown=True))
        self._default_key = key
        self._outbox: Outbox | None = None
        if transport == "serial":
            assert workdir is not None
            self._outbox = Outbox(workdir / "decode.db", "gw-decode")

    def close(self) -> None:
        if self._outbox is not None:
            self._outbox.close()

    def feed(self, text: str) -> list[Outcome]:
        text = text.strip()
        if not text:
            return []
        if self.transport == "ble":
            return self._ble(text)
        if self.transport == "rflink":
            return self.radio.rflink_line(text)
        if self.transport == "rtl433":
            return self.radio.rtl433_line(text)
        return self._serial(text)

    def _ble(self, text: str) -> list[Outcome]:
        parts = text.split()
        mac = self.address
        if len(parts) == 2:  # "MAC HEX" lines from a capture
            mac, hexdata = parts
        else:
            hexdata = parts[0]
        if mac is None:
            return [Rejected(None, "no_address", "give --address or 'MAC HEX' lines")]
        try:
            data = bytes.fromhex(hexdata)
        except ValueError:
            return [Rejected(None, "undecodable", "not hex")]
        if self._default_key is not None:
            try:
                self.radio.ble.keys.setdefault(ble_device_id(mac), self._default_key)
            except ProtocolError as exc:
                return [Rejected(None, exc.reason, exc.detail)]
        return self.radio.ble_advert(mac, data)

    def _serial(self, text: str) -> list[Outcome]:
        line = text.encode("ascii", errors="replace") + b"\n"
        try:
            msg = sl.decode(line)
        except ProtocolError as exc:
            return [Rejected(None, exc.reason, exc.detail)]
        if isinstance(msg, sl.SerialRfCode):
            return self.radio.bridge_code(msg)
        if not isinstance(msg, sl.SerialEvent):
            return [Rejected(serial_device_id(msg.node), "not_an_event", type(msg).__name__)]
        device = serial_device_id(msg.node)
        assert self._outbox is not None
        # The live gateway's duplicate rule, on a throw-away outbox.
        result = self._outbox.append([Incoming(device, msg.kind, utcnow(), msg.seq, dict(msg.data),
                                               sl.unframe(line))])[0]
        if result.duplicate:
            return [Rejected(device, "duplicate", "seq %d" % msg.seq)]
        return [Decoded(device, msg.kind, dict(msg.data), msg.seq)]


def decode_stream(decoder: Decoder, lines: Iterable[str], out: TextIO) -> int:
    count = 0
    for number, text in enumerate(lines, 1):
        for outcome in decoder.feed(text):
            obj = {"line": number, **outcome.to_dict()}
            out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
            out.flush()
            count += 1
    return count


def run_decode(transport: str, address: str | None, key_hex: str | None, settings: GatewaySettings | None,
               lines: Iterable[str], out: TextIO) -> int:
    key = None
    if key_hex:
        try:
            key = bytes.fromhex(key_hex)
        except ValueError:
            raise GatewayError("--key must be 32 hex digits") from None
        if len(key) != 16:
            raise GatewayError("--key must be 32 hex digits")
    if address is not None:
        try:
            ble_device_id(address)
        except ProtocolError:
            raise GatewayError("--address must be a MAC like A4:C1:38:8D:18:B2") from None
    with tempfile.TemporaryDirectory(prefix="sw-decode-") as tmp:
        decoder = Decoder(transport, address=address, key=key, settings=settings, workdir=Path(tmp))
        try:
            return decode_stream(decoder, lines, out)
        finally:
            decoder.close()


# --- status and devices ----------------------------------------------------------------------

def outbox_summary(settings: GatewaySettings) -> dict[str, Any]:
    """The outbox's backlog, read without disturbing the running gateway (read-only, WAL)."""
    path = settings.outbox_path
    if not path.exists():
        return {"outbox": str(path), "exists": False}
    try:
        db = Database(sqlite3.connect("file:%s?mode=ro" % path, uri=True), execute_plugins=False)
        try:
            rows = db.query("SELECT prio, count(*) AS n FROM events GROUP BY prio")
            by_prio = {row["prio"]: row["n"] for row in rows}
            oldest = next(db.query("SELECT min(at) AS at FROM events"))["at"]
            last = next(db.query("SELECT coalesce(max(seq), 0) AS seq FROM sqlite_sequence"
                                 " WHERE name = 'events'"))
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise GatewayError("cannot read %s: %s" % (path, exc)) from None
    return {
        "outbox": str(path),
        "exists": True,
        "backlog": sum(by_prio.values()),
        "backlog_by_priority": {name: by_prio.get(rank, 0)
                                for rank, name in enumerate(("alarm", "fault", "status"))},
        "oldest_pending": oldest,
        "last_seq": last["seq"],
    }


def read_sightings(data_dir: Path) -> list[Sighting]:
    """What a gateway using ``data_dir`` has heard, newest first (read-only)."""
    path = data_dir / DB_FILE
    if not path.exists():
        return []
    try:
        db = Database(sqlite3.connect("file:%s?mode=ro" % path, uri=True), execute_plugins=False)
        try:
            if not db.table(TABLE).exists():
                return []
            rows = db.table(TABLE).rows_where(order_by="last_seen DESC", select=", ".join(COLUMNS))
            return [Sighting(**row) for row in rows]
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise GatewayError("cannot read %s: %s" % (path, exc)) from None


def unknown_devices(settings: GatewaySettings) -> list[dict[str, Any]]:
    """Devices the gateway heard that are not on the allowlist, newest first."""
    known = {d.id for d in settings.devices}
    return [asdict(s) for s in read_sightings(settings.data_dir) if s.device not in known]


def status_report(settings: GatewaySettings) -> dict[str, Any]:
    return {
        "gateway": settings.id,
        "config": str(settings.source) if settings.source else None,
        "mqtt": settings.mqtt.url,
        "serial_ports": [p.port for p in settings.serial],
        "ble": settings.ble.enabled,
        "rtl433": bool(settings.rtl433.command),
        "devices": len(settings.devices),
        "unknown_devices": len(unknown_devices(settings)),
        **outbox_summary(settings),
        "sms": read_summary(settings.data_dir) if settings.sms is not None else None,
    }


def device_rows(settings: GatewaySettings) -> Iterator[dict[str, Any]]:
    for d in settings.devices:
        yield {"device": d.id, "status": "allowed", "name": d.name, "model": d.model, "kind": d.kind,
               "location": d.location}
    for u in unknown_devices(settings):
        yield {"device": u["device"], "status": "unknown", "transport": u.get("transport"),
               "seen": u.get("count"), "detail": u.get("detail")}
