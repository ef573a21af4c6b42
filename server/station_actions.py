"""Station actions: what staff did on a station's kiosk, applied to the case through the workflow
as the station's staff (docs/kiosk.md, docs/protocol.md "Station actions").

Each action is applied in its own transaction and recorded in ``station_actions`` under
(gateway, action id) in the same transaction, so a resend after a lost result is answered from
that row and never applied twice. The result goes back to the gateway only after the commit:
the gateway forgets the action on it.

Scope: a gateway acts only on its own alarms (the event came from it) and only on cases of
devices registered to its station. Verbs map onto the workflow:

- ``going`` (我去处理): ``accept`` when the case is new; on a case somebody already took on, a
  ``comment`` that station staff are going;
- ``handled`` (已处理): ``close``, accepting first when the case is still new;
- ``false_alarm`` (误报): ``false_alarm``.

A closed case refuses all three (``case_closed``). The action's time at the station is kept as
the audit record's ``at`` (and ``station_at`` in its data); the case's own clock (deadlines,
``closed_at``) never runs before the server opened the case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from protocol.actions import ActionResult, DecodedActions, StationAction
from protocol.event import format_time
from server.alerts import Alert, AlertHook, no_hook
from server.commands import Command
from server.db.engine import Database
from server.db.models import Case, CaseEvent, Device, Gateway, StationActionRow, User
from server.errors import ServerError
from server.ingest.identity import event_sent_as
from server.ingest.quarantine import is_quarantined
from server.scope import Scope
from server.settings import Deadlines
from server.workflow import ActionOutcome, apply_action

log = logging.getLogger(__name__)


class Refusal(ServerError):
    """An action the server will not apply; final, answered with ``reason``."""

    reason = "refused"


@dataclass
class StationOutcome:
    """What to publish once everything is committed."""

    results: list[ActionResult] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)


def apply_station_actions(
    db: Database,
    gateway: str,
    batch: DecodedActions,
    now: datetime,
    deadlines: Deadlines,
    on_alerts: AlertHook = no_hook,
) -> StationOutcome:
    """Apply a gateway's batch in order, one transaction per action; ``on_alerts`` runs in each
    action's transaction (the notifications' outbox)."""
    out = StationOutcome()
    for _, ident, why in batch.rejected:
        if ident is not None:
            out.results.append(ActionResult(ident, False, why.reason, {"detail": why.detail}))
    for action in batch.actions:
        with db.write() as session:
            result, outcomes = _apply(session, gateway, action, now, deadlines)
            on_alerts(session, [a for o in outcomes for a in o.alerts], now)
        out.results.append(result)
        for outcome in outcomes:
            out.alerts.extend(outcome.alerts)
            out.commands.extend(outcome.commands)
    return out


def _apply(
    session: Session, gateway: str, action: StationAction, now: datetime, deadlines: Deadlines
) -> tuple[ActionResult, list[ActionOutcome]]:
    prior = session.get(StationActionRow, (gateway, action.id))
    if prior is not None:
        return ActionResult(action.id, prior.ok, prior.reason or "", dict(prior.result or {})), []
    outcomes: list[ActionOutcome] = []
    case_id: int | None = None
    try:
        with session.begin_nested():
            case = _case_of(session, gateway, action)
            case_id = case.id
            outcomes = _workflow(session, case, action, now, deadlines)
        result = ActionResult(action.id, True, "", {"case": case.id, "state": case.state})
        log.info("station action %s from %s: %s on case %d by %s", action.id, gateway, action.verb,
                 case.id, action.by)
    except ServerError as exc:
        extra: dict[str, Any] = {"detail": exc.detail or str(exc)}
        if case_id is not None:
            extra["case"] = case_id
            current = session.get(Case, case_id)
            if current is not None:
                extra["state"] = current.state
        result = ActionResult(action.id, False, exc.reason, extra)
        log.warning("station action %s from %s refused: %s", action.id, gateway, exc)
    session.add(
        StationActionRow(
            gateway_id=gateway,
            id=action.id,
            event_id=action.event,
            case_id=result.extra.get("case"),
            verb=action.verb,
            by=action.by,
            at=action.at,
            received_at=now,
            note=action.note or None,
            ok=result.ok,
            reason=result.reason or None,
            result=result.extra,
        )
    )
    return result, outcomes


def _case_of(session: Session, gateway: str, action: StationAction) -> Case:
    """The case of the alarm the action answers, checked against the gateway's station."""
    # By the id the gateway sent it under: a reused id's event is stored under a fresh one.
    event = event_sent_as(session, action.event)
    if event is None and is_quarantined(session, gateway, action.event):
        raise Refusal("%s was about a device of another station" % action.event, reason="not_in_station")
    if event is None or event.gateway_id != gateway:
        raise Refusal("the server has no alarm %s from %s" % (action.event, gateway), reason="no_event")
    gw = session.get(Gateway, gateway)
    device = session.get(Device, event.device_id)
    home = session.get(Gateway, device.gateway_id) if device is not None and device.gateway_id else None
    if gw is None or gw.station_id is None or home is None or home.station_id != gw.station_id:
        raise Refusal("%s is not registered to the station of %s" % (event.device_id, gateway),
                      reason="not_in_station")
    case_id = session.scalar(select(CaseEvent.case_id).where(CaseEvent.event_id == event.id))
    case = session.get(Case, case_id) if case_id is not None else None
    if case is None:
        raise Refusal("alarm %s has no case" % action.event, reason="no_case")
    return case


def _staff_scope(session: Session, action: StationAction) -> Scope:
    """The station's staff member; their server account when they have one (same name, role
    station_staff), so the audit links to it. The station check above is the scope check."""
    user = session.scalars(
        select(User).where(User.username == action.by, User.role == "station_staff", User.active.is_(True))
    ).one_or_none()
    return Scope(user.id if user is not None else None, action.by, "station_staff", None)


def _workflow(
    session: Session, case: Case, action: StationAction, now: datetime, deadlines: Deadlines
) -> list[ActionOutcome]:
    if not case.is_open:
        why = case.resolution or case.state
        raise Refusal("case %d is closed (%s)" % (case.id, why), reason="case_closed")
    scope = _staff_scope(session, action)
    # The case's clock never runs before the server opened it (the alarm may have reached the
    # server after staff acted on it at the station).
    at = max(action.at, case.opened_at, key=lambda t: t.timestamp())
    data = {"via": "kiosk", "station_at": format_time(action.at), "station_action": action.id}
    note = action.note or None
    steps: list[tuple[str, str | None]] = []
    if action.verb == "going":
        steps.append(("accept", note) if case.state == "new" else ("comment", note or "station staff going"))
    elif action.verb == "handled":
        if case.state == "new":
            steps.append(("accept", None))
        steps.append(("close", note))
    else:
        steps.append(("false_alarm", note))
    return [apply_action(session, case.id, scope, verb, at, note=text, data=data, deadlines=deadlines,
                         recorded_at=action.at)  # the audit keeps when it happened at the station
            for verb, text in steps]
