"""Store a batch of events in the caller's transaction and group alarms into cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from protocol.event import Event
from protocol.kinds import ALARM_CLASS, OPENS_CASE, Kind, Priority
from server.alerts import Alert, build_alert
from server.db.models import Case, CaseAction, CaseEvent, EventRow
from server.db.upsert import insert_ignore_many
from server.deadlines import open_case_once
from server.places import Place, resolve_places
from server.scope import device_scope
from server.settings import Deadlines
from server.workflow import apply_action


@dataclass
class StoreResult:
    new: list[str] = field(default_factory=list)  # event ids stored now
    duplicates: list[str] = field(default_factory=list)  # event ids already stored
    cases_opened: list[int] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)  # to publish after commit

    @property
    def seqs(self) -> list[int]:
        return [int(i.rpartition(":")[2]) for i in self.new + self.duplicates]


def store_events(
    session: Session, events: list[Event], now: datetime, deadlines: Deadlines | None = None
) -> StoreResult:
    """Idempotent on event id. The caller commits, then publishes ``result.alerts``."""
    deadlines = deadlines or Deadlines()
    result = StoreResult()
    places = resolve_places(session, {ev.device: ev.gateway for ev in events})
    rows = []
    for ev in events:
        place = places[ev.device]
        rows.append(
            {
                "id": ev.id,
                "gateway_id": ev.gateway,
                "seq": ev.seq,
                "device_id": ev.device,
                "kind": ev.kind.value,
                "priority": ev.priority.value,
                "at": ev.at,
                "received_at": now,
                "device_seq": ev.device_seq,
                "data": ev.data,
                "region_path": place.path_text,
            }
        )
    inserted = insert_ignore_many(session, EventRow, rows, [EventRow.id])
    seen: set[str] = set()
    # One alert per case per batch, built once: a backlog of repeats for one case tells the
    # duty room once, with the latest event and the count, instead of once per repeat.
    pending: dict[int, _Pending] = {}
    for ev in events:
        # A batch may carry the same event twice (a resend merged into a new batch): once counts.
        if ev.id not in inserted or ev.id in seen:
            result.duplicates.append(ev.id)
            continue
        seen.add(ev.id)
        result.new.append(ev.id)
        touched = _group(session, ev, places[ev.device], now, deadlines, result)
        if touched is not None:
            earlier = pending.get(touched.case.id)
            if earlier is not None and earlier.type == "case_opened" and touched.type == "event_attached":
                touched.type = "case_opened"
            pending[touched.case.id] = touched
    for item in pending.values():
        session.refresh(item.case)
        row = session.get(EventRow, item.event_id)
        result.alerts.append(build_alert(session, item.type, item.case, row, item.place))
    return result


@dataclass
class _Pending:
    type: str  # case_opened | event_attached | case_updated
    case: Case
    event_id: str
    place: Place


def _group(
    session: Session, ev: Event, place: Place, now: datetime, deadlines: Deadlines, result: StoreResult
) -> _Pending | None:
    alarm_class = ALARM_CLASS.get(ev.kind)
    if alarm_class is None:
        return None

    def find_open() -> Case | None:
        return session.scalars(
            select(Case).where(
                Case.device_id == ev.device, Case.alarm_class == alarm_class, Case.is_open.is_(True)
            )
        ).one_or_none()

    opened = False
    # Most alarms join a case already open: look first, and only try to open one when none is.
    case = find_open()
    if case is None and ev.kind in OPENS_CASE:
        # The partial unique index decides who opens the case; a concurrent writer that
        # loses simply finds the winner's row below.
        opened = open_case_once(
            session,
            device_id=ev.device,
            gateway_id=ev.gateway,
            alarm_class=alarm_class,
            kind=ev.kind.value,
            priority=ev.priority.value,
            category="alarm" if ev.priority is Priority.ALARM else "maintenance",
            region_id=place.region.id if place.region is not None else None,
            region_path=place.path_text,
            now=now,
            deadlines=deadlines,
        )
        case = find_open()
    if case is None:
        return None  # a restore or cancel with nothing open: stored, nothing to settle
    session.add(CaseEvent(case_id=case.id, event_id=ev.id))
    session.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(event_count=Case.event_count + 1, last_event_id=ev.id, updated_at=now)
        # The counters are read back once per case when the batch's alerts are built.
        .execution_options(synchronize_session=False)
    )
    if (
        ev.kind is Kind.PANIC_CANCEL
        and case.state == "new"
        and now - case.opened_at <= timedelta(seconds=deadlines.cancel_grace)
    ):
        # The villager took it back before anyone accepted: close it, and say so on the wire.
        apply_action(
            session,
            case.id,
            device_scope(ev.device),
            "cancel",
            now,
            note="cancelled on the device",
            data={"event": ev.id},
            deadlines=deadlines,
        )
        return _Pending("case_updated", case, ev.id, place)
    if opened:
        result.cases_opened.append(case.id)
        session.add(
            CaseAction(
                case_id=case.id,
                action="open",
                from_state=None,
                to_state="new",
                actor="device:%s" % ev.device,
                at=now,
                data={"event": ev.id},
            )
        )
    return _Pending("case_opened" if opened else "event_attached", case, ev.id, place)
