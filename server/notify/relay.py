"""Sends what the notification outbox holds, until each target has taken it.

``NotificationRelay.step`` claims due rows with a lease (``FOR UPDATE SKIP LOCKED``, so several
server instances never send one row at once, and a row claimed by a process that died is due
again when its lease runs out), sends them outside any transaction, and records each attempt
and its result in the case's timeline. A failed attempt is retried with exponential backoff;
a target that keeps failing becomes a maintenance case, told to every other target.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from server.alerts import Alert, AlertHook, build_alert
from server.clock import Clock
from server.db.engine import Database
from server.db.models import Case, CaseAction, Region
from server.deadlines import open_case_once
from server.errors import ServerError
from server.metrics import Metrics
from server.notify.outbox import ACTION, NOTIFY_FAILED, WAKE
from server.notify.sender import Sender
from server.notify.tables import Delivery, NotifyRule
from server.notify.targets import display
from server.settings import Deadlines

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)  # a claimed row nobody answered for is tried again after this


@dataclass(frozen=True)
class Backoff:
    first: float = 5.0
    factor: float = 2.0
    cap: float = 600.0
    fail_case_after: int = 5  # attempts of one delivery before the target is a maintenance case

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.cap, self.first * self.factor ** max(0, attempts - 1)))


@dataclass(frozen=True)
class _Claimed:
    id: int
    case_id: int
    rule_id: int | None
    target_key: str
    target: str
    trigger: str
    level: int
    title: str
    body: str
    short: str
    attempts: int


@dataclass(frozen=True)
class _Outcome:
    item: _Claimed
    ok: bool
    note: str


class NotificationRelay:
    """Sends due rows; ``step`` is the whole job, the thread just calls it."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        sender: Sender,
        metrics: Metrics,
        on_alerts: AlertHook,
        *,
        deadlines: Deadlines | None = None,
        backoff: Backoff | None = None,
        interval: float = 0.5,
        workers: int = 8,
        batch: int = 20,
        publish: Callable[[list[Alert]], None] | None = None,
        busy: Callable[[], bool] = lambda: False,
        max_defer: float = 5.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.sender = sender
        self.metrics = metrics
        self.deadlines = deadlines or Deadlines()
        self.backoff = backoff or Backoff()
        self.interval = interval
        self.batch = batch
        self.publish = publish
        # The server's alert hook: the maintenance case of a failing target is told through the
        # duty alert outbox and the notifications, in its case's transaction, like any other.
        self.on_alerts = on_alerts
        # The ack path comes first: while ingest has work queued, rounds wait (at most
        # ``max_defer`` seconds in a row, so notifications never starve under constant load).
        self.busy = busy
        self.max_defer = max_defer
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify-send")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one round ------------------------------------------------------------------------

    def step(self, now: datetime | None = None, *, everything: bool = False) -> int:
        """Claim due rows (``everything``: also rows a previous life of this server held) and
        send them; the number of attempts made."""
        now = now or self.clock()
        if not everything and not self._anything_due(now):
            return 0
        with self.db.write() as session:
            claimed = self._claim(session, now, everything)
        if not claimed:
            return 0
        outcomes = list(self._pool.map(self._send, claimed))
        done = self.clock()
        with self.db.write() as session:
            alerts = [a for o in outcomes for a in self._record(session, o, done)]
            self.on_alerts(session, alerts, done)
        if alerts and self.publish is not None:
            self.publish(alerts)
        return len(outcomes)

    def _anything_due(self, now: datetime) -> bool:
        with self.db.read() as session:
            return bool(
                session.scalar(select(exists().where(Delivery.state == "pending", Delivery.due_at <= now)))
            )

    def _claim(self, session: Session, now: datetime, everything: bool) -> list[_Claimed]:
        stmt = select(Delivery).where(Delivery.state == "pending")
        if not everything:
            stmt = stmt.where(Delivery.due_at <= now)
        rows = session.scalars(
            stmt.order_by(Delivery.due_at, Delivery.id).limit(self.batch).with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return []
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_([r.id for r in rows]))
            .values(due_at=now + LEASE, attempts=Delivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return [
            _Claimed(
                r.id,
                r.case_id,
                r.rule_id,
                r.target_key,
                r.target,
                r.trigger,
                r.level,
                r.title,
                r.body,
                str((r.data or {}).get("short") or r.title),
                r.attempts + 1,
            )
            for r in rows
        ]

    def _send(self, item: _Claimed) -> _Outcome:
        try:
            return _Outcome(item, True, self.sender.send(item.target, item.title, item.body, item.short))
        except ServerError as exc:
            return _Outcome(item, False, exc.detail or str(exc))
        except Exception as exc:  # a plugin bug must not stop the relay; the row is retried
            log.exception("notification %d: sender failed", item.id)
            return _Outcome(item, False, "%s: %s" % (type(exc).__name__, exc))

    def _record(self, session: Session, outcome: _Outcome, now: datetime) -> list[Alert]:
        item = outcome.item
        target = _safe_display(item.target)
        data: dict[str, Any] = {
            "delivery": item.id,
            "target": target,
            "attempt": item.attempts,
            "trigger": item.trigger,
            "level": item.level,
            "ok": outcome.ok,
        }
        alerts: list[Alert] = []
        if outcome.ok:
            session.execute(
                update(Delivery)
                .where(Delivery.id == item.id)
                .values(state="sent", sent_at=now, last_error=None)
                .execution_options(synchronize_session=False)
            )
            self.metrics.inc("notifications_sent")
            note = "notified %s: %s" % (target, outcome.note)
            self._target_back(session, item, now)
        else:
            retry = now + self.backoff.delay(item.attempts)
            session.execute(
                update(Delivery)
                .where(Delivery.id == item.id, Delivery.state == "pending")
                .values(due_at=retry, last_error=outcome.note[:400])
                .execution_options(synchronize_session=False)
            )
            self.metrics.inc("notifications_failed", reason=item.target.partition("://")[0].lower()[:16])
            data["error"] = outcome.note[:300]
            data["retry_at"] = retry.isoformat()
            note = "notifying %s failed (attempt %d), next try %s" % (
                target,
                item.attempts,
                retry.isoformat(),
            )
            log.warning("notification %d to %s failed (attempt %d): %s", item.id, target, item.attempts,
                        outcome.note)  # fmt: skip
            if item.attempts == self.backoff.fail_case_after:
                alerts.extend(self._target_failing(session, item, target, now))
        case = session.get(Case, item.case_id)
        state = case.state if case is not None else None
        session.add(
            CaseAction(
                case_id=item.case_id,
                action=ACTION,
                from_state=state,
                to_state=state,
                actor="system",
                at=now,
                note=note,
                data=data,
            )
        )
        return alerts

    def _target_failing(self, session: Session, item: _Claimed, target: str, now: datetime) -> list[Alert]:
        """A target that failed this often is broken: someone must look (a maintenance case)."""
        region: Region | None = None
        if item.rule_id is not None:
            rule = session.get(NotifyRule, item.rule_id)
            if rule is not None and rule.region_id is not None:
                region = session.get(Region, rule.region_id)
        device = "notify:" + item.target_key
        opened = open_case_once(
            session,
            device_id=device,
            gateway_id=None,
            alarm_class=NOTIFY_FAILED,
            kind=NOTIFY_FAILED,
            priority="fault",
            category="maintenance",
            region_id=region.id if region else None,
            region_path=region.path if region else None,
            now=now,
            deadlines=self.deadlines,
        )
        if not opened:
            return []
        case = session.scalars(
            select(Case).where(
                Case.device_id == device, Case.alarm_class == NOTIFY_FAILED, Case.is_open.is_(True)
            )
        ).one()
        session.add(
            CaseAction(
                case_id=case.id,
                action="open",
                from_state=None,
                to_state="new",
                actor="system",
                at=now,
                note="notifications to %s keep failing (case %d)" % (target, item.case_id),
                data={"target": target, "delivery": item.id},
            )
        )
        log.error("notification target %s keeps failing: maintenance case %d", target, case.id)
        self.metrics.inc("notify_targets_failing")
        return [build_alert(session, "case_opened", case, None)]

    def _target_back(self, session: Session, item: _Claimed, now: datetime) -> None:
        case = session.scalars(
            select(Case).where(
                Case.device_id == "notify:" + item.target_key,
                Case.alarm_class == NOTIFY_FAILED,
                Case.is_open.is_(True),
            )
        ).one_or_none()
        if case is None:
            return
        last = session.scalar(
            select(func.max(CaseAction.at)).where(
                CaseAction.case_id == case.id, CaseAction.action == "comment"
            )
        )
        if last is not None and last >= case.opened_at:
            return  # said once is enough
        session.add(
            CaseAction(
                case_id=case.id,
                action="comment",
                from_state=case.state,
                to_state=case.state,
                actor="system",
                at=now,
                note="the target takes notifications again",
            )
        )

    # -- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        def run() -> None:
            first = True
            deferred_since: float | None = None
            while not self._stop.is_set():
                if not first and self.busy():
                    started = deferred_since if deferred_since is not None else time.monotonic()
                    deferred_since = started
                    if time.monotonic() - started < self.max_defer:
                        self._stop.wait(0.02)
                        continue
                deferred_since = None
                try:
                    # The first round takes every pending row, the ones a crashed life held too.
                    sent = self.step(everything=first)
                    first = False
                except Exception:
                    log.exception("notification round failed")
                    sent = 0
                if sent == 0:
                    WAKE.wait(self.interval)
                    WAKE.clear()

        self._thread = threading.Thread(target=run, name="notify-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        WAKE.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self._pool.shutdown(wait=True, cancel_futures=True)


def _safe_display(url: str) -> str:
    try:
        return display(url)
    except ServerError:
        return url.partition("://")[0] + "://…"
