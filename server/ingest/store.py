"""Store a batch of events in the caller's transaction and group alarms into cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from protocol.event import Event
from protocol.kinds import ALARM_CLASS, DEFAULT_PRIORITY, OPENS_CASE, Kind, Priority
from server.alerts import Alert, build_alert
from server.db.models import Case, CaseAction, CaseEvent, EventRow
from server.deadlines import open_case_once
from server.ingest.identity import store_rows
from server.ingest.quarantine import foreign, quarantine
from server.places import Place, resolve_places
from server.scope import device_scope
from server.settings import Deadlines
from server.workflow import apply_action


@dataclass
class StoreResult:
    new: list[str] = field(default_factory=list)  # stored ids of the events stored now
    duplicates: list[str] = field(default_factory=list)  # event ids already stored, same content
    # Reused ids (a reinstalled gateway): the id an event was sent as -> the id it is stored as.
    reassigned: dict[str, str] = field(default_factory=dict)
    # Set when the gateway must move its sequence above this (it sent ids the server holds).
    high_water: int | None = None
    # Events for a device registered to another gateway: kept aside, acked, never a case.
    quarantined: list[str] = field(default_factory=list)
    cases_opened: list[int] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)  # in the outbox; hand to the relay after commit
    priority_corrected: int = 0  # events whose sender claimed another priority than the kind's
    seqs: list[int] = field(default_factory=list)  # the seqs the events were sent with: the ack


def store_events(
    session: Session, events: list[Event], now: datetime, deadlines: Deadlines | None = None
) -> StoreResult:
    """Idempotent on event id (and content). The caller commits, then hands ``result.alerts``
    (already in the outbox) to the relay."""
    deadlines = deadlines or Deadlines()
    result = StoreResult()
    places = resolve_places(session, {ev.device: ev.gateway for ev in events})
    aside = [ev for ev in events if foreign(ev, places[ev.device])]
    if aside:
        result.quarantined, result.duplicates = quarantine(session, aside, places, now)
        events = [ev for ev in events if not foreign(ev, places[ev.device])]
    rows = []
    for ev in events:
        place = places[ev.device]
        # The server, not the sender, says how urgent a kind is (a panic sent as "status"
        # is still an alarm).
        if ev.priority is not DEFAULT_PRIORITY[ev.kind]:
            result.priority_corrected += 1
        rows.append(
            {
                "id": ev.id,
                "gateway_id": ev.gateway,
                "seq": ev.seq,
                "device_id": ev.device,
                "kind": ev.kind.value,
                "priority": DEFAULT_PRIORITY[ev.kind].value,
                "at": ev.at,
                "received_at": now,
                "device_seq": ev.device_seq,
                "data": ev.data,
                "region_path": place.path_text,
            }
        )
    # A batch may carry the same event twice (a resend merged into a new batch): once counts.
    ids = store_rows(session, events, rows)
    fresh = ids.fresh
    result.new = [ev.id for ev in fresh]
    result.duplicates += ids.duplicates
    result.reassigned = ids.reassigned
    result.high_water = ids.high_water
    result.seqs = ids.wire_seqs + [ev.seq for ev in aside]
    work = _CaseWork(session, fresh, now, deadlines, result)
    for ev in fresh:
        alarm_class = ALARM_CLASS.get(ev.kind)
        if alarm_class is not None:
            work.group(ev, alarm_class, places[ev.device])
    work.finish()
    return result


@dataclass
class _Pending:
    type: str  # case_opened | event_attached | case_updated
    case: Case
    event_id: str
    place: Place


class _CaseWork:
    """Case work of one batch, done per case rather than per event.

    Open cases of the batch's devices are read in one query; links, counters and alerts are
    written once per case at the end. Events are still taken in order, so a cancel settles the
    case it follows and a later panic opens a new one.
    """

    def __init__(
        self, session: Session, events: list[Event], now: datetime, deadlines: Deadlines, result: StoreResult
    ) -> None:
        self.session = session
        self.now = now
        self.deadlines = deadlines
        self.result = result
        devices = {ev.device for ev in events if ALARM_CLASS.get(ev.kind) is not None}
        self.open: dict[tuple[str, str], Case] = {}
        if devices:
            for case in session.scalars(
                select(Case).where(Case.is_open.is_(True), Case.device_id.in_(devices))
            ):
                self.open[(case.device_id, case.alarm_class)] = case
        self.links: list[dict[str, Any]] = []
        self.counts: dict[int, int] = {}
        self.last: dict[int, str] = {}
        # One alert per case per batch: a backlog of repeats for one case tells the duty room
        # once, with the latest event and the count, instead of once per repeat.
        self.pending: dict[int, _Pending] = {}

    def _find_open(self, device: str, alarm_class: str) -> Case | None:
        return self.session.scalars(
            select(Case).where(
                Case.device_id == device, Case.alarm_class == alarm_class, Case.is_open.is_(True)
            )
        ).one_or_none()

    def group(self, ev: Event, alarm_class: str, place: Place) -> None:
        key = (ev.device, alarm_class)
        case = self.open.get(key)
        opened = False
        if case is None and ev.kind in OPENS_CASE:
            # The partial unique index decides who opens the case; a concurrent writer that
            # loses simply finds the winner's row below.
            opened = open_case_once(
                self.session,
                device_id=ev.device,
                gateway_id=ev.gateway,
                alarm_class=alarm_class,
                kind=ev.kind.value,
                priority=DEFAULT_PRIORITY[ev.kind].value,
                category="alarm" if DEFAULT_PRIORITY[ev.kind] is Priority.ALARM else "maintenance",
                region_id=place.region.id if place.region is not None else None,
                region_path=place.path_text,
                now=self.now,
                deadlines=self.deadlines,
            )
            case = self._find_open(ev.device, alarm_class)
            if case is not None:
                self.open[key] = case
        if case is None:
            return  # a restore or cancel with nothing open: stored, nothing to settle
        self.links.append({"case_id": case.id, "event_id": ev.id})
        self.counts[case.id] = self.counts.get(case.id, 0) + 1
        self.last[case.id] = ev.id
        if (
            ev.kind is Kind.PANIC_CANCEL
            and case.state == "new"
            # Only the gateway the alarm came from may take it back for the device.
            and case.gateway_id == ev.gateway
            and self.now - case.opened_at <= timedelta(seconds=self.deadlines.cancel_grace)
        ):
            # The villager took it back before anyone accepted: close it, and say so on the wire.
            apply_action(
                self.session,
                case.id,
                device_scope(ev.device),
                "cancel",
                self.now,
                note="cancelled on the device",
                data={"event": ev.id},
                deadlines=self.deadlines,
            )
            del self.open[key]
            self.pending[case.id] = _Pending("case_updated", case, ev.id, place)
            return
        if opened:
            self.result.cases_opened.append(case.id)
            self.session.add(
                CaseAction(
                    case_id=case.id,
                    action="open",
                    from_state=None,
                    to_state="new",
                    actor="device:%s" % ev.device,
                    at=self.now,
                    data={"event": ev.id},
                )
            )
        earlier = self.pending.get(case.id)
        kind = (
            "case_opened"
            if opened or (earlier is not None and earlier.type == "case_opened")
            else ("event_attached")
        )
        self.pending[case.id] = _Pending(kind, case, ev.id, place)

    def finish(self) -> None:
        session = self.session
        session.flush()
        if self.links:
            session.execute(insert(CaseEvent), self.links)
        if self.counts:
            # One statement run over all the batch's cases (executemany), read back below.
            cases = cast(Table, Case.__table__)
            session.execute(
                update(cases)
                .where(cases.c.id == bindparam("b_case"))
                .values(
                    event_count=cases.c.event_count + bindparam("b_count"),
                    last_event_id=bindparam("b_last"),
                    updated_at=bindparam("b_now"),
                ),
                [
                    {"b_case": case_id, "b_count": count, "b_last": self.last[case_id], "b_now": self.now}
                    for case_id, count in self.counts.items()
                ],
            )
        alerts = []
        if self.pending:
            # The batch's cases as they are now, and the events the alerts name: two queries.
            list(
                session.scalars(
                    select(Case)
                    .where(Case.id.in_(list(self.pending)))
                    .execution_options(populate_existing=True)
                )
            )
            wanted = [item.event_id for item in self.pending.values()]
            rows = {r.id: r for r in session.scalars(select(EventRow).where(EventRow.id.in_(wanted)))}
            for item in self.pending.values():
                alerts.append(build_alert(session, item.type, item.case, rows.get(item.event_id), item.place))
        self.result.alerts = alerts
