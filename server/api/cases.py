"""Cases: list, detail, actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from server.api.convert import action_out, case_fields, case_out, event_out
from server.api.deps import ScopeDep, ServicesDep
from server.api.schemas import ActionIn, CaseDetail, CaseOut, ErrorBody, Page
from server.db.models import Case, CaseAction, CaseEvent, EventRow
from server.publish import dumps, publish_alerts
from server.scope import in_scope
from server.workflow import STATES, apply_action, get_case

router = APIRouter(tags=["cases"])

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


@router.get("/cases", response_model=Page[CaseOut], responses=ERRORS)
def list_cases(
    svc: ServicesDep,
    scope: ScopeDep,
    state: Annotated[str | None, Query(description="one of " + ", ".join(STATES) + ", or 'open'")] = None,
    device: str | None = None,
    alarm_class: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[CaseOut]:
    cond = [in_scope(Case.region_path, scope)]
    if state == "open":
        cond.append(Case.is_open.is_(True))
    elif state is not None:
        cond.append(Case.state == state)
    if device is not None:
        cond.append(Case.device_id == device)
    if alarm_class is not None:
        cond.append(Case.alarm_class == alarm_class)
    with svc.db.read() as session:
        total = session.scalar(select(func.count()).select_from(Case).where(*cond)) or 0
        rows = session.scalars(select(Case).where(*cond).order_by(Case.id.desc()).limit(limit).offset(offset))
        return Page[CaseOut](items=[case_out(c) for c in rows], total=total, limit=limit, offset=offset)


@router.get("/cases/{case_id}", response_model=CaseDetail, responses=ERRORS)
def read_case(case_id: int, svc: ServicesDep, scope: ScopeDep) -> CaseDetail:
    with svc.db.read() as session:
        case = get_case(session, case_id, scope)
        events = session.scalars(
            select(EventRow)
            .join(CaseEvent, CaseEvent.event_id == EventRow.id)
            .where(CaseEvent.case_id == case.id)
            .order_by(EventRow.at, EventRow.id)
        )
        actions = session.scalars(
            select(CaseAction).where(CaseAction.case_id == case.id).order_by(CaseAction.id)
        )
        return CaseDetail.model_validate(
            {
                **case_fields(case),
                "events": [event_out(e) for e in events],
                "actions": [action_out(a) for a in actions],
            }
        )


@router.post("/cases/{case_id}/actions", response_model=CaseDetail, responses=ERRORS)
def act_on_case(case_id: int, body: ActionIn, svc: ServicesDep, scope: ScopeDep) -> CaseDetail:
    data = body.model_dump(exclude={"action", "note"}, exclude_none=True)
    with svc.db.write() as session:
        outcome = apply_action(
            session,
            case_id,
            scope,
            body.action,
            svc.clock(),
            note=body.note,
            data=data,
            deadlines=svc.settings.deadlines,
        )
    # Published after the commit, so nobody hears of a change the database does not hold.
    for cmd in outcome.commands:
        svc.publisher.publish(svc.topics.cmd(cmd.gateway), dumps(cmd.payload))
        svc.metrics.inc("commands_published")
    publish_alerts(svc.publisher, svc.topics, svc.metrics, outcome.alerts)
    return read_case(case_id, svc, scope)
