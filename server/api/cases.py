"""Cases: list, detail with events and audit trail, actions of the workflow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.api.bounds import DeviceId, Kind, RowId, State
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, paginate
from server.api.schemas import ActionIn, ActionOut, CaseDetail, CaseOut, EventOut
from server.data.cases import case_actions, case_events, case_in_scope, case_list
from server.publish import dumps, publish_alerts
from server.workflow import STATES, apply_action

router = APIRouter(tags=["cases"], responses=ERRORS)


@router.get("/cases", response_model=Page[CaseOut])
def list_cases(
    svc: ServicesDep,
    scope: ScopeDep,
    state: Annotated[State | None, Query(description="one of " + ", ".join(STATES) + ", or 'open'")] = None,
    device: DeviceId | None = None,
    alarm_class: Kind | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[CaseOut]:
    stmt = case_list(scope, state=state, device=device, alarm_class=alarm_class)
    with svc.db.read() as s:
        return paginate(s, stmt, CaseOut, limit, offset)


@router.get("/cases/{case_id}", response_model=CaseDetail)
def read_case(case_id: RowId, svc: ServicesDep, scope: ScopeDep) -> CaseDetail:
    with svc.db.read() as s:
        case = case_in_scope(s, scope, case_id)
        return CaseDetail(
            **CaseOut.model_validate(case).model_dump(),
            events=[EventOut.model_validate(e) for e in case_events(s, case.id)],
            actions=[ActionOut.model_validate(a) for a in case_actions(s, case.id)],
        )


@router.post("/cases/{case_id}/actions", response_model=CaseDetail)
def act_on_case(case_id: RowId, body: ActionIn, svc: ServicesDep, scope: ScopeDep) -> CaseDetail:
    data = body.model_dump(exclude={"action", "note"}, exclude_none=True)
    with svc.db.write() as s:
        # apply_action finds the case inside the caller's scope (404 outside it) and checks the role.
        now = svc.clock()
        outcome = apply_action(
            s,
            case_id,
            scope,
            body.action,
            now,
            note=body.note,
            data=data,
            deadlines=svc.settings.deadlines,
        )
        svc.on_alerts(s, outcome.alerts, now)
    # Published after the commit, so nobody hears of a change the database does not hold.
    for cmd in outcome.commands:
        svc.publisher.publish(svc.topics.cmd(cmd.gateway), dumps(cmd.payload))
        svc.metrics.inc("commands_published")
    publish_alerts(svc.publisher, svc.topics, svc.metrics, outcome.alerts)
    return read_case(case_id, svc, scope)
