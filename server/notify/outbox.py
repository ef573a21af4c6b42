"""The notification outbox: rows written with the case change, sent until the target takes them.

``write_notifications`` runs inside the transaction that opened, escalated, accepted or closed
the case (it reads the duty alerts that transaction built), so a notification exists exactly
when its change does. ``NotificationRelay`` claims due rows (a lease, so a crash mid-send is
retried and several server instances never send one row at once), sends them outside any
transaction, and records each attempt and its result in the case's timeline. A failed attempt
is retried with exponential backoff; a target that keeps failing becomes a maintenance case.
Accepting a case cancels what is still queued for its unaccepted state; closing cancels all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, event, exists, func, insert, select, update
from sqlalchemy.orm import Session

from server.alerts import Alert, build_alert
from server.clock import Clock
from server.db.engine import Database
from server.db.models import Case, CaseAction, Region
from server.deadlines import open_case_once
from server.errors import ServerError
from server.metrics import Metrics
from server.notify.message import render
from server.notify.rules import TRIGGERS, RuleView, load_rules, recipients
from server.notify.sender import Sender
from server.notify.tables import Delivery, NotifyRule
from server.notify.targets import display
from server.settings import Deadlines

log = logging.getLogger(__name__)

NOTIFY_FAILED = "notify_failed"
ACTION = "notify"  # timeline entries of this module
LEASE = timedelta(seconds=120)  # a claimed row nobody answered for is tried again after this
# Woken after a commit that wrote rows, so a new panic leaves at once rather than at the next poll.
_WAKE = threading.Event()


@dataclass(frozen=True)
class NotifyConfig:
    env_targets: tuple[str, ...] = ()  # SHOUWANG_NOTIFY
    base_url: str = "http://127.0.0.1:8000"  # where people open the console
    timezone: str = "Asia/Shanghai"  # for the times in messages to SHOUWANG_NOTIFY targets


@dataclass(frozen=True)
class Backoff:
    first: float = 5.0
    factor: float = 2.0
    cap: float = 600.0
    fail_case_after: int = 5  # attempts of one delivery before the target is a maintenance case

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.cap, self.first * self.factor ** max(0, attempts - 1)))


def _wake_after_commit(session: Session) -> None:
    _WAKE.set()


def write_notifications(
    session: Session, alerts: Sequence[Alert], now: datetime, config: NotifyConfig
) -> int:
    """Queue the notifications these alerts call for, in the caller's transaction; rows written."""
    rows: list[dict[str, Any]] = []
    rules = None
    for alert in alerts:
        kind = alert.payload.get("type")
        case = session.get(Case, alert.payload["case"]["id"])
        if case is None:
            continue
        if kind == "case_updated":
            _cancel_repeats(session, case, now)
            continue
        if kind not in TRIGGERS:
            continue
        if rules is None:
            rules = load_rules(session)
        try:
            rows.extend(_rows_for(case, kind, alert, rules, now, config))
        except Exception:
            # Never the reason a case change (an ingest batch, its ack) fails: logged, and the
            # case still reaches the duty room by its alert and the console.
            log.exception("case %d: notifications could not be prepared", case.id)
    if rows:
        session.execute(insert(cast(Table, Delivery.__table__)), rows)
        if not event.contains(session, "after_commit", _wake_after_commit):
            event.listen(session, "after_commit", _wake_after_commit, once=True)
    return len(rows)


def _rows_for(
    case: Case, kind: str, alert: Alert, rules: list[RuleView], now: datetime, config: NotifyConfig
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rcpt in recipients(rules, config.env_targets, case, kind, now, config.timezone):
        if case.alarm_class == NOTIFY_FAILED and case.device_id == "notify:" + rcpt.key:
            continue  # a failing target is not told that it fails
        msg = render(
            kind,
            case,
            alert.payload,
            language=rcpt.language,
            base_url=config.base_url,
            now=now,
            timezone=rcpt.timezone,
        )
        rows.append(
            {
                "case_id": case.id,
                "rule_id": rcpt.rule_id,
                "target_key": rcpt.key,
                "target": rcpt.target,
                "trigger": kind,
                "level": case.escalation_level if kind == "case_escalated" else 0,
                "case_state": case.state,
                "title": msg.title,
                "body": msg.body,
                "state": "pending",
                "attempts": 0,
                "created_at": now,
                "due_at": rcpt.due_at,
                "data": {"short": msg.short},
            }
        )
    return rows


def _cancel_repeats(session: Session, case: Case, now: datetime) -> None:
    """Accepted: what was queued while nobody had accepted it goes no further. Closed: nothing does."""
    if case.is_open and case.state == "new":
        return
    cond = [Delivery.case_id == case.id, Delivery.state == "pending"]
    if case.is_open:
        cond.append(Delivery.case_state == "new")
    result = session.execute(
        update(Delivery)
        .where(and_(*cond))
        .values(state="cancelled", last_error="case %s" % ("closed" if not case.is_open else case.state))
        .execution_options(synchronize_session=False)
    )
    count = result.rowcount if isinstance(result, CursorResult) else 0
    if count:
        session.add(
            CaseAction(
                case_id=case.id,
                action=ACTION,
                from_state=case.state,
                to_state=case.state,
                actor="system",
                at=now,
                note="%d queued notification(s) withdrawn: case %s" % (count, case.state),
                data={"cancelled": count},
            )
        )


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
        config: NotifyConfig,
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
        self.config = config
        self.deadlines = deadlines or Deadlines()
        self.backoff = backoff or Backoff()
        self.interval = interval
        self.batch = batch
        self.publish = publish
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
            write_notifications(session, alerts, done, self.config)
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
                    _WAKE.wait(self.interval)
                    _WAKE.clear()

        self._thread = threading.Thread(target=run, name="notify-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        _WAKE.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self._pool.shutdown(wait=True, cancel_futures=True)


def _safe_display(url: str) -> str:
    try:
        return display(url)
    except ServerError:
        return url.partition("://")[0] + "://…"


def pending_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(Delivery.state == "pending")) or 0
