"""SMS fallback: when the server has not acked an alarm for ``after_s`` (the link is down), the
station texts its own numbers through a GSM modem, and texts again once the case is accepted.

The outbox is the truth about what the server has not acked (an acked row leaves it), so this
object keeps no list of its own to lose: each round it reads the unacked alarms from the outbox.
What it texted, the acceptances it heard of and its failure counters are kept in a small SQLite
file beside the outbox (``sms.db``), so a restart neither texts an alarm twice nor forgets to
tell that it was accepted, and ``shouwang gateway status`` can show the counters.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gateway.counters import Counters
from hardware.gsm_modem import ModemError, mask_number
from protocol.event import Event
from protocol.kinds import Kind, Priority

log = logging.getLogger(__name__)

SMS_DB = "sms.db"
ALARM = "alarm"
ACCEPTED = "accepted"
WHAT = {
    "panic": "紧急求助",
    "medical": "医疗求助",
    "fire": "火警",
    "intrusion": "入侵报警",
    "tamper": "设备被拆",
    "panic_cancel": "取消求助",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS texts (
    event_id TEXT NOT NULL, number TEXT NOT NULL, what TEXT NOT NULL,
    device TEXT NOT NULL, device_seq INTEGER, kind TEXT NOT NULL, at TEXT NOT NULL, sent_at REAL NOT NULL,
    PRIMARY KEY (event_id, number, what));
CREATE TABLE IF NOT EXISTS accepted (
    device TEXT NOT NULL, device_seq INTEGER NOT NULL, heard_at REAL NOT NULL,
    PRIMARY KEY (device, device_seq));
CREATE TABLE IF NOT EXISTS failures (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class TextSender(Protocol):
    """What a GSM modem does for us (``hardware.gsm_modem.GsmModem``)."""

    def send(self, number: str, text: str) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Text:
    key: tuple[str, str, str]  # event id, number, what
    event: Event
    number: str
    what: str
    body: str


class SmsLog:
    """The fallback's own durable record (one writer: the fallback's thread; readers: status)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    def texted(self, what: str) -> set[tuple[str, str]]:
        with self._lock:
            rows = self.conn.execute("SELECT event_id, number FROM texts WHERE what = ?", (what,)).fetchall()
        return {(r[0], r[1]) for r in rows}

    def record(self, text: _Text, now: float) -> None:
        ev = text.event
        with self._lock:
            self.conn.execute(
                "INSERT OR IGNORE INTO texts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ev.id,
                    text.number,
                    text.what,
                    ev.device,
                    ev.device_seq,
                    ev.kind.value,
                    ev.at.isoformat(),
                    now,
                ),
            )

    def accept(self, device: str, device_seq: int, now: float) -> None:
        with self._lock:
            self.conn.execute("INSERT OR IGNORE INTO accepted VALUES (?, ?, ?)", (device, device_seq, now))

    def follow_ups(self) -> list[tuple[str, str, str, int, str, str]]:
        """Alarms texted whose case was accepted, not yet told so: (event, number, device, seq, kind, at)."""
        with self._lock:
            return self.conn.execute(
                "SELECT t.event_id, t.number, t.device, t.device_seq, t.kind, t.at FROM texts t "
                "JOIN accepted a ON a.device = t.device AND a.device_seq = t.device_seq "
                "WHERE t.what = 'alarm' AND NOT EXISTS (SELECT 1 FROM texts f WHERE f.event_id = t.event_id "
                "AND f.number = t.number AND f.what = 'accepted') ORDER BY t.sent_at"
            ).fetchall()

    def failed(self, reason: str, detail: str) -> None:
        with self._lock:
            self.conn.execute(
                "INSERT INTO failures VALUES (?, 1) ON CONFLICT(reason) DO UPDATE SET count = count + 1",
                (reason,),
            )
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_error', ?)", (detail[:300],))

    def summary(self) -> dict[str, Any]:
        with self._lock:
            sent = dict(self.conn.execute("SELECT what, COUNT(*) FROM texts GROUP BY what").fetchall())
            failures = dict(
                self.conn.execute("SELECT reason, count FROM failures ORDER BY reason").fetchall()
            )
            last = self.conn.execute("SELECT value FROM meta WHERE key = 'last_error'").fetchone()
        return {
            "texts_sent": {ALARM: sent.get(ALARM, 0), ACCEPTED: sent.get(ACCEPTED, 0)},
            "failures": failures,
            "last_error": last[0] if last else None,
        }


def read_summary(data_dir: Path) -> dict[str, Any] | None:
    """For ``shouwang gateway status`` in another process: the counters, or None without a file."""
    path = data_dir / SMS_DB
    if not path.exists():
        return None
    log_ = SmsLog(path)
    try:
        return log_.summary()
    finally:
        log_.close()


class SmsFallback:
    """``step`` is the whole job (the tests call it); ``start`` runs it on a thread."""

    def __init__(
        self,
        *,
        numbers: Sequence[str],
        after_s: float,
        station: str,
        data_dir: Path,
        pending: Callable[[], list[Event]],
        modem: TextSender,
        counters: Counters,
        describe: Callable[[str], str] = lambda device: device,
        timezone: str = "Asia/Shanghai",
        clock: Callable[[], float] = time.time,
        retry_s: float = 30.0,
        interval: float = 1.0,
    ) -> None:
        self.numbers = tuple(numbers)
        self.after_s = after_s
        self.station = station
        self.pending = pending
        self.modem = modem
        self.counters = counters
        self.describe = describe
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.retry_s = retry_s
        self.interval = interval
        self.log = SmsLog(data_dir / SMS_DB)
        self._first_seen: dict[str, float] = {}
        self._retry: dict[tuple[str, str, str], tuple[float, int]] = {}  # key -> (next try, failures)
        self._round = threading.Lock()  # one round at a time: its thread, or a caller of step()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- inputs ---------------------------------------------------------------------------

    def accepted(self, device: str, device_seq: int) -> None:
        """Ack level ``accepted`` came back from the server: the case is in someone's hands."""
        self.log.accept(device, device_seq, self.clock())
        self._wake.set()

    # -- one round ------------------------------------------------------------------------

    def step(self) -> int:
        """Text what is due; the number of texts sent."""
        with self._round:
            return self._step()

    def _step(self) -> int:
        now = self.clock()
        due = self._due_alarms(now) + self._due_follow_ups()
        sent = 0
        for text in due:
            retry = self._retry.get(text.key)
            if retry is not None and retry[0] > now:
                continue
            try:
                self.modem.send(text.number, text.body)
            except ModemError as exc:
                failures = (retry[1] if retry else 0) + 1
                self._retry[text.key] = (now + min(600.0, self.retry_s * 2 ** (failures - 1)), failures)
                self.counters.inc("sms.failed.%s" % exc.reason.value)
                self.log.failed(exc.reason.value, str(exc))
                log.warning(
                    "SMS fallback for %s to %s failed: %s", text.event.id, mask_number(text.number), exc
                )
                continue
            self._retry.pop(text.key, None)
            self.log.record(text, now)
            self.counters.inc("sms.sent.%s" % text.what)
            sent += 1
            log.warning(
                "SMS fallback: %s %s texted to %s", text.what, text.event.id, mask_number(text.number)
            )
        return sent

    def _due_alarms(self, now: float) -> list[_Text]:
        alarms = [ev for ev in self.pending() if ev.priority is Priority.ALARM]
        ids = {ev.id for ev in alarms}
        for gone in [i for i in self._first_seen if i not in ids]:  # acked: the link works
            del self._first_seen[gone]
        texted = self.log.texted(ALARM)
        out = []
        for ev in alarms:
            first = self._first_seen.setdefault(ev.id, now)
            since = min(first, ev.at.timestamp())
            if now - since < self.after_s:
                continue
            body = self._alarm_text(ev, now - since)
            for number in self.numbers:
                if (ev.id, number) not in texted:
                    out.append(_Text((ev.id, number, ALARM), ev, number, ALARM, body))
        return out

    def _due_follow_ups(self) -> list[_Text]:
        out = []
        for event_id, number, device, device_seq, kind, at in self.log.follow_ups():
            gateway, _, seq = event_id.rpartition(":")
            ev = Event.create(
                gateway, int(seq), device, Kind(kind), datetime.fromisoformat(at), device_seq=device_seq
            )
            out.append(_Text((event_id, number, ACCEPTED), ev, number, ACCEPTED, self._accepted_text(ev)))
        return out

    def _alarm_text(self, ev: Event, waited: float) -> str:
        what = WHAT.get(ev.kind.value, ev.kind.value)
        at = ev.at.astimezone(self.tz).strftime("%H:%M")
        return "【守望】%s报警：%s，%s，%s。服务器%d分钟未确认（网络可能中断），请立即处置。" % (
            self.station,
            what,
            self.describe(ev.device),
            at,
            max(1, int(waited // 60)),
        )

    def _accepted_text(self, ev: Event) -> str:
        what = WHAT.get(ev.kind.value, ev.kind.value)
        at = ev.at.astimezone(self.tz).strftime("%H:%M")
        return "【守望】%s：%s的%s（%s）已由值班室受理。" % (self.station, at, what, self.describe(ev.device))

    # -- status and thread ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {"numbers": len(self.numbers), "after_s": self.after_s, **self.log.summary()}

    def start(self) -> None:
        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.step()
                except Exception:
                    log.exception("SMS fallback round failed")
                self._wake.wait(self.interval)
                self._wake.clear()

        self._thread = threading.Thread(target=run, name="sms-fallback", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.interval + 70)
            self._thread = None
        self.modem.close()
        self.log.close()
