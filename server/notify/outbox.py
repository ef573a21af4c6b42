"""The notification outbox: rows written with the case change they tell of.

``write_notifications`` runs inside the transaction that opened, escalated, accepted or closed
the case (it reads the duty alerts that transaction built), so a notification exists exactly
when its change does, and wakes the relay (``server.notify.relay``) after the commit. Accepting
a case withdraws what is still queued for its unaccepted state; closing withdraws everything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, event, insert, update
from sqlalchemy.orm import Session

from server.alerts import Alert
from server.db.models import Case, CaseAction
from server.notify.message import render
from server.notify.rules import TRIGGERS, RuleView, load_rules, recipients
from server.notify.tables import Delivery

log = logging.getLogger(__name__)

NOTIFY_FAILED = "notify_failed"
ACTION = "notify"  # timeline entries of this module
# Woken after a commit that wrote rows, so a new panic leaves at once rather than at the next poll.
WAKE = threading.Event()


@dataclass(frozen=True)
class NotifyConfig:
    env_targets: tuple[str, ...] = ()  # SHOUWANG_NOTIFY
    base_url: str = "http://127.0.0.1:8000"  # where people open the console
    timezone: str = "Asia/Shanghai"  # for the times in messages to SHOUWANG_NOTIFY targets


def _wake_after_commit(session: Session) -> None:
    WAKE.set()


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

