"""Commands to gateways: recorded before they are sent, matched with the gateway's result."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from protocol.payloads import CommandResult
from server.db.models import Case, CaseAction, CommandRow

log = logging.getLogger(__name__)


@dataclass
class Command:
    gateway: str
    payload: dict[str, Any]  # what goes on the wire: {"id", "op", ...}


def new_command(
    session: Session,
    gateway: str,
    op: str,
    args: dict[str, Any],
    sent_by: str,
    now: datetime,
    case_id: int | None = None,
) -> Command:
    """Record a command in the caller's transaction; publish ``payload`` after the commit."""
    payload = {**args, "id": str(uuid.uuid4()), "op": op}
    session.add(
        CommandRow(
            id=payload["id"],
            gateway_id=gateway,
            op=op,
            payload=payload,
            case_id=case_id,
            sent_by=sent_by,
            sent_at=now,
        )
    )
    return Command(gateway, payload)


def record_result(session: Session, gateway: str, result: CommandResult, now: datetime) -> bool:
    """False for a result nobody asked for (unknown id, or from another gateway)."""
    row = session.get(CommandRow, result.id)
    if row is None or row.gateway_id != gateway:
        log.warning("result from %s for unknown command %s", gateway, result.id)
        return False
    if row.result_at is not None:
        return True  # a resent result: the first one stands
    row.ok, row.result, row.result_at = result.ok, result.extra, now
    if row.case_id is not None:
        case = session.get(Case, row.case_id)
        state = case.state if case is not None else None
        note = "%s on %s: %s" % (row.op, gateway, "ok" if result.ok else result.extra.get("error", "failed"))
        session.add(
            CaseAction(
                case_id=row.case_id,
                action="command_result",
                from_state=state,
                to_state=state,
                user_id=None,
                actor="gateway:%s" % gateway,
                at=now,
                note=note,
                data={"command": row.id, "ok": result.ok, **result.extra},
            )
        )
    return True
