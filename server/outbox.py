"""The transactional outbox: messages written with the change they tell of, sent after.

``enqueue`` runs inside the caller's transaction, so a message exists exactly when its change
does; duty alerts get there through ``duty_alert_hook``, the alert hook every case change
calls. After the commit the rows are handed to the relay (``server.relay``), which sends them
at once; a row is marked sent only when the transport confirmed it. Rows nobody confirmed
(the process died, the broker was away) become due again after a lease and are claimed by any
instance: at least once, whatever crashes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, Table, delete, event, func, insert, select, update
from sqlalchemy.orm import Session

from server.alerts import Alert, AlertHook
from server.db.models import OutboxMessage
from server.safe_json import dumps, printable

DUTY_ALERT = "duty_alert"  # MQTT, on sw/v1/duty/<target>/alerts; target "" is unassigned
LEASE = timedelta(seconds=10)  # how long a writer or claimer holds a row before others may


@dataclass(frozen=True)
class OutboxItem:
    id: int
    channel: str
    target: str
    payload: bytes


def enqueue(
    session: Session, channel: str, messages: Sequence[tuple[str, bytes]], now: datetime
) -> list[OutboxItem]:
    """Write ``(target, payload)`` messages in the caller's transaction; their rows, with ids."""
    if not messages:
        return []
    rows = [
        {
            "channel": channel,
            "target": target,
            "payload": payload.decode("utf-8"),
            "created_at": now,
            "due_at": now + LEASE,
            "attempts": 0,
        }
        for target, payload in messages
    ]
    table = cast(Table, OutboxMessage.__table__)
    # The Core table, not the entity: one multi-row INSERT, ids back in the rows' order.
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids = list(session.scalars(stmt, rows))
    return [OutboxItem(i, channel, t, p) for i, (t, p) in zip(ids, messages, strict=True)]


def duty_alert_hook(hand_over: Callable[[list[OutboxItem]], None]) -> AlertHook:
    """The alert hook (run in the transaction of every case change) that writes the duty
    alerts to the outbox, marks each alert with its row, and hands the rows to the relay
    (``hand_over``) once the transaction has committed."""

    def write_duty_alerts(session: Session, alerts: Sequence[Alert], now: datetime) -> None:
        if not alerts:
            return
        messages = [("/".join(a.region_path), dumps(a.payload)) for a in alerts]
        items = enqueue(session, DUTY_ALERT, messages, now)
        for alert, item in zip(alerts, items, strict=True):
            object.__setattr__(alert, "outbox", item)  # frozen: the one field set after building

        handed: list[bool] = []

        def committed(sess: Session) -> None:
            # after_commit also fires when a savepoint is released: wait for the real commit.
            if sess.in_nested_transaction() or handed:
                return
            handed.append(True)
            hand_over(items)

        # After the commit only: a rolled-back change never tells anyone anything (and the
        # relay reads the rows back before sending, so rows a savepoint undid are not sent).
        event.listen(session, "after_commit", committed)

    return write_duty_alerts


def committed_rows(session: Session, ids: Sequence[int]) -> list[OutboxItem]:
    """The unsent rows among ``ids`` as they are committed (a savepoint may have undone some)."""
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.channel, OutboxMessage.target, OutboxMessage.payload)
        .where(OutboxMessage.id.in_(list(ids)), OutboxMessage.sent_at.is_(None))
        .order_by(OutboxMessage.id)
    )
    return [OutboxItem(i, c, t, p.encode("utf-8")) for i, c, t, p in rows]


def claim(
    session: Session,
    now: datetime,
    owner: str,
    limit: int,
    written_before: datetime | None = None,
    after_id: int = 0,
) -> list[OutboxItem]:
    """Take unsent rows whose holder's lease ran out; with ``written_before``, rows written
    before then whatever their lease (what a restarting instance's previous life left), in id
    order above ``after_id``."""
    stmt = select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
    if written_before is None:
        stmt = stmt.where(OutboxMessage.due_at <= now)
    else:
        stmt = stmt.where(OutboxMessage.created_at < written_before, OutboxMessage.id > after_id)
    rows = session.scalars(
        stmt.order_by(OutboxMessage.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([r.id for r in rows]))
        .values(owner=owner, due_at=now + LEASE, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return [OutboxItem(r.id, r.channel, r.target, r.payload.encode("utf-8")) for r in rows]


def has_due(session: Session, now: datetime) -> bool:
    """Is any unsent row's lease over? (One probe of the partial index of unsent rows.)"""
    due = select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None), OutboxMessage.due_at <= now)
    return session.scalar(due.limit(1)) is not None


def mark_sent(session: Session, ids: Sequence[int], now: datetime) -> int:
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(ids)), OutboxMessage.sent_at.is_(None))
        .values(sent_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount if isinstance(result, CursorResult) else 0


def note_failure(session: Session, ids: Sequence[int], error: str, retry_at: datetime) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(ids)), OutboxMessage.sent_at.is_(None))
        .values(last_error=printable(error), due_at=retry_at)
        .execution_options(synchronize_session=False)
    )


def prune(session: Session, sent_before: datetime, limit: int = 1000) -> int:
    """Forget sent rows older than ``sent_before``, a bounded number at a time."""
    old = select(OutboxMessage.id).where(OutboxMessage.sent_at < sent_before).limit(limit)
    result = session.execute(
        delete(OutboxMessage).where(OutboxMessage.id.in_(old)).execution_options(synchronize_session=False)
    )
    return result.rowcount if isinstance(result, CursorResult) else 0


def unsent(session: Session) -> int:
    return session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None))) or 0
