"""Deadlines, yellow/red status and escalation up the region tree.

All state lives in the cases table (``deadline``, ``deadline_status``, ``next_escalation_at``,
``escalation_level``), so a restart loses nothing, and every step is a conditional UPDATE, so
with several server instances on one PostgreSQL each step happens exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, and_, select, update
from sqlalchemy.orm import Session

from server.alerts import Alert, AlertHook, build_alert, no_hook
from server.clock import Clock
from server.db.engine import Database
from server.db.models import Case, CaseAction, EventRow, Gateway, Region, Station
from server.db.upsert import insert_ignore
from server.metrics import Metrics
from server.settings import Deadlines
from server.ticker import Ticker

log = logging.getLogger(__name__)

BATCH = 200  # cases handled per transaction, so one tick never holds locks for long
GATEWAY_OFFLINE = "gateway_offline"


@dataclass(frozen=True)
class Schedule:
    deadline: datetime | None
    step_started_at: datetime
    deadline_status: str
    next_escalation_at: datetime | None


def schedule(started: datetime, deadline: datetime | None, now: datetime, deadlines: Deadlines) -> Schedule:
    """Where a step with this start and deadline stands at ``now``, and when to look again.

    A deadline already past comes back as yellow and due now: the next tick turns it red and
    escalates, through the one code path that does so.
    """
    if deadline is None:
        return Schedule(None, started, "green", None)
    yellow_at = started + (deadline - started) * deadlines.yellow
    if now < yellow_at:
        return Schedule(deadline, started, "green", yellow_at)
    return Schedule(deadline, started, "yellow", deadline)


def escalation_path(region_path: str | None, level: int) -> list[str]:
    """``c01/t03/v12/g4`` escalated 1 level is ``c01/t03/v12``; never above the county."""
    if region_path is None:
        return []
    codes = region_path.split("/")
    return codes[: max(1, len(codes) - level)]


def top_level(region_path: str | None) -> int:
    """The highest escalation level of a case: its tree's root (the county), and at least 1,
    so an overdue case always turns red and escalated, also at the county or unassigned."""
    depth = len(region_path.split("/")) if region_path else 0
    return max(1, depth - 1)


def open_case_once(
    session: Session,
    *,
    device_id: str,
    gateway_id: str | None,
    alarm_class: str,
    kind: str,
    priority: str,
    category: str,
    region_id: int | None,
    region_path: str | None,
    now: datetime,
    deadlines: Deadlines,
) -> bool:
    """Open a case with its accept deadline unless one is open for (device, alarm class).

    The partial unique index on open cases decides, not a read before the write, so this is
    exactly once across threads, ticks and server instances. True when this call opened it.
    """
    seconds = deadlines.seconds("accept", alarm_class)
    sched = schedule(now, now + timedelta(seconds=seconds), now, deadlines)
    return insert_ignore(
        session,
        Case,
        {
            "device_id": device_id,
            "gateway_id": gateway_id,
            "alarm_class": alarm_class,
            "kind": kind,
            "priority": priority,
            "category": category,
            "state": "new",
            "is_open": True,
            "opened_at": now,
            "updated_at": now,
            "deadline": sched.deadline,
            "step_started_at": now,
            "deadline_status": sched.deadline_status,
            "next_escalation_at": sched.next_escalation_at,
            "escalation_level": 0,
            "region_id": region_id,
            "region_path": region_path,
            "event_count": 0,
        },
        [Case.device_id, Case.alarm_class],
        index_where=Case.is_open,
    )


class Escalator:
    """Looks at due cases and offline gateways; ``tick`` is the whole job, the thread just calls it."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        deadlines: Deadlines,
        interval: float = 1.0,
        on_alerts: AlertHook = no_hook,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.on_alerts = on_alerts
        self.clock = clock
        self.deadlines = deadlines
        self.interval = interval
        self.metrics = metrics or Metrics()
        self._ticker: Ticker | None = None
        self._failing: set[int] = set()  # cases whose last step failed (logged in full once)

    def tick(self, now: datetime | None = None) -> list[Alert]:
        now = now or self.clock()
        alerts: list[Alert] = []
        failed: set[int] = set()  # not looked at again in this tick: the loop always ends
        while True:
            with self.db.write() as session:
                looked, batch = self._due_cases(session, now, failed)
                # Outside the cases' savepoints, so what it queues is told of on the commit.
                self.on_alerts(session, batch, now)
            alerts.extend(batch)
            if looked < BATCH:
                break
        with self.db.write() as session:
            offline = self._offline_gateways(session, now)
            self.on_alerts(session, offline, now)
            alerts.extend(offline)
        return alerts

    def _due_cases(self, session: Session, now: datetime, failed: set[int]) -> tuple[int, list[Alert]]:
        # SKIP LOCKED: another instance working on a case is left alone, not waited for.
        due = session.scalars(
            select(Case)
            .where(Case.is_open.is_(True), Case.next_escalation_at <= now, Case.id.not_in(failed))
            .order_by(Case.next_escalation_at, Case.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        alerts: list[Alert] = []
        for case in due:
            case_id = case.id
            try:
                # Each case in its own savepoint: one that fails costs only itself.
                with session.begin_nested():
                    alert = self._step(session, case, now)
            except Exception as exc:
                failed.add(case_id)
                self._failed(case_id, exc)
                continue
            self._failing.discard(case_id)
            if alert is not None:
                alerts.append(alert)
        return len(due), alerts

    def _failed(self, case_id: int, exc: Exception) -> None:
        self.metrics.inc("deadline_errors")
        if case_id in self._failing:
            log.error("case %d: deadline step failed again: %s", case_id, exc)
        else:
            self._failing.add(case_id)
            log.exception("case %d: deadline step failed; the other cases go on", case_id)

    def _step(self, session: Session, case: Case, now: datetime) -> Alert | None:
        old_status, old_next, old_level = case.deadline_status, case.next_escalation_at, case.escalation_level
        renotify = timedelta(seconds=self.deadlines.seconds("renotify", case.alarm_class))
        values: dict[str, Any]
        if old_status == "green":
            values = {"deadline_status": "yellow", "next_escalation_at": case.deadline}
        else:
            # One level up per re-notification, up to the root, then re-notify there.
            values = {
                "deadline_status": "red",
                "escalation_level": min(case.escalation_level + 1, top_level(case.region_path)),
                "next_escalation_at": now + renotify,
            }
        # The WHERE repeats what we read: if anyone moved the case on meanwhile, we do nothing.
        result = session.execute(
            update(Case)
            .where(
                and_(
                    Case.id == case.id,
                    Case.is_open.is_(True),
                    Case.deadline_status == old_status,
                    Case.next_escalation_at == old_next,
                )
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not isinstance(result, CursorResult) or result.rowcount != 1:
            return None
        session.refresh(case)
        event = session.get(EventRow, case.last_event_id) if case.last_event_id else None
        if case.deadline_status == "yellow":
            log.info("case %d: deadline %s is near", case.id, case.deadline)
            return build_alert(session, "case_updated", case, event)
        target = escalation_path(case.region_path, case.escalation_level)
        # Audited like any action, so reports can tell which cases ran late.
        session.add(
            CaseAction(
                case_id=case.id,
                action="escalate",
                from_state=case.state,
                to_state=case.state,
                user_id=None,
                actor="system",
                at=now,
                data={
                    "level": case.escalation_level,
                    "region": "/".join(target) or None,
                    "repeat": old_status == "red" and case.escalation_level == old_level,
                },
            )
        )
        log.warning(
            "case %d overdue: escalation %d to %s",
            case.id,
            case.escalation_level,
            "/".join(target) or "unassigned",
        )
        return build_alert(session, "case_escalated", case, event, topic_path=target)

    def _offline_gateways(self, session: Session, now: datetime) -> list[Alert]:
        limit = now - timedelta(seconds=self.deadlines.gateway_offline)
        gateways = session.scalars(
            select(Gateway).where(Gateway.status == "offline", Gateway.status_at <= limit)
        ).all()
        alerts: list[Alert] = []
        for gw in gateways:
            try:
                with session.begin_nested():
                    alert = self._offline_gateway(session, gw, now)
            except Exception:
                self.metrics.inc("deadline_errors")
                log.exception("gateway %s: offline check failed; the others go on", gw.id)
                continue
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _offline_gateway(self, session: Session, gw: Gateway, now: datetime) -> Alert | None:
        station = session.get(Station, gw.station_id) if gw.station_id is not None else None
        region = session.get(Region, station.region_id) if station and station.region_id else None
        opened = open_case_once(
            session,
            device_id=gw.id,
            gateway_id=gw.id,
            alarm_class=GATEWAY_OFFLINE,
            kind=GATEWAY_OFFLINE,
            priority="fault",
            category="maintenance",
            region_id=region.id if region else None,
            region_path=region.path if region else None,
            now=now,
            deadlines=self.deadlines,
        )
        if not opened:
            return None
        case = session.scalars(
            select(Case).where(
                Case.device_id == gw.id, Case.alarm_class == GATEWAY_OFFLINE, Case.is_open.is_(True)
            )
        ).one()
        log.warning("gateway %s offline since %s: maintenance case %d", gw.id, gw.status_at, case.id)
        return build_alert(session, "case_opened", case, None)

    def start(self, publish: Callable[[list[Alert]], None]) -> None:
        self._ticker = Ticker("deadlines", self.interval, lambda: publish(self.tick()))
        self._ticker.start()

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None


def gateway_back(session: Session, gateway_id: str, now: datetime) -> list[Alert]:
    """A gateway is online again: say so on its open maintenance case; people close it."""
    case = session.scalars(
        select(Case).where(
            Case.device_id == gateway_id, Case.alarm_class == GATEWAY_OFFLINE, Case.is_open.is_(True)
        )
    ).one_or_none()
    if case is None:
        return []
    session.add(
        CaseAction(
            case_id=case.id,
            action="comment",
            from_state=case.state,
            to_state=case.state,
            user_id=None,
            actor="system",
            at=now,
            note="gateway back online",
        )
    )
    case.updated_at = now
    session.flush()
    return [build_alert(session, "case_updated", case, None)]
