"""Rows to response bodies."""

from __future__ import annotations

from server.api.schemas import ActionOut, CaseOut, EventOut
from server.db.models import Case, CaseAction, EventRow


def event_out(row: EventRow) -> EventOut:
    return EventOut(
        id=row.id,
        gateway=row.gateway_id,
        seq=row.seq,
        device=row.device_id,
        kind=row.kind,
        priority=row.priority,
        at=row.at,
        received_at=row.received_at,
        device_seq=row.device_seq,
        data=row.data,
        region_path=row.region_path,
    )


def case_fields(case: Case) -> dict[str, object]:
    return dict(
        id=case.id,
        device=case.device_id,
        gateway=case.gateway_id,
        alarm_class=case.alarm_class,
        kind=case.kind,
        priority=case.priority,
        category=case.category,
        state=case.state,
        open=case.is_open,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        closed_at=case.closed_at,
        deadline=case.deadline,
        escalation_level=case.escalation_level,
        deadline_status=case.deadline_status,
        assignee=case.assignee,
        region_path=case.region_path,
        event_count=case.event_count,
        resolution=case.resolution,
        satisfaction=case.satisfaction,
    )


def case_out(case: Case) -> CaseOut:
    return CaseOut.model_validate(case_fields(case))


def action_out(row: CaseAction) -> ActionOut:
    return ActionOut(
        id=row.id,
        action=row.action,
        from_state=row.from_state,
        to_state=row.to_state,
        actor=row.actor,
        at=row.at,
        note=row.note,
        data=row.data,
    )
