"""Cases: the list query, one case in scope, its events and its audit trail."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from server.db.models import Case, CaseAction, CaseEvent, EventRow
from server.errors import NotFound
from server.scope import Scope, in_scope


def case_list(
    scope: Scope, *, state: str | None, device: str | None, alarm_class: str | None
) -> Select[Case]:
    """Cases in the scope, newest first; ``state`` is a state or ``open``."""
    cond: list[ColumnElement[bool]] = [in_scope(Case.region_path, scope)]
    if state == "open":
        cond.append(Case.is_open.is_(True))
    elif state is not None:
        cond.append(Case.state == state)
    if device is not None:
        cond.append(Case.device_id == device)
    if alarm_class is not None:
        cond.append(Case.alarm_class == alarm_class)
    return select(Case).where(*cond).order_by(Case.id.desc())


def case_in_scope(session: Session, scope: Scope, case_id: int) -> Case:
    """The case, if it lies in the scope; a case outside it does not exist for the caller."""
    case = session.get(Case, case_id)
    if case is None or not scope.covers(case.region_path):
        raise NotFound("case %d not found" % case_id)
    return case


def case_events(session: Session, case_id: int) -> Sequence[EventRow]:
    return session.scalars(
        select(EventRow)
        .join(CaseEvent, CaseEvent.event_id == EventRow.id)
        .where(CaseEvent.case_id == case_id)
        .order_by(EventRow.at, EventRow.id)
    ).all()


def case_actions(session: Session, case_id: int) -> Sequence[CaseAction]:
    return session.scalars(
        select(CaseAction).where(CaseAction.case_id == case_id).order_by(CaseAction.id)
    ).all()
