"""Bounds on what the server keeps of refused input: dead letters and quarantined events.

Both tables are written by whatever a gateway sends, so a faulty or hostile gateway could grow
them until the disk is full and real alarms can no longer be stored. Each keeps the newest
``keep_rows`` rows and nothing older than ``keep_days``; the metrics keep counting everything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.db.engine import Database
from server.db.models import DeadLetter, QuarantinedEvent
from server.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    keep_rows: int = 5000  # per table; a dead letter keeps at most 64 KiB of its payload
    keep_days: int = 90


def _prune(
    session: Session,
    table: type[DeadLetter] | type[QuarantinedEvent],
    seen: InstrumentedAttribute[datetime],
    now: datetime,
    keep: Retention,
) -> int:
    # The id of the newest row beyond the ones kept; None while the table is within bounds.
    cutoff = session.scalar(select(table.id).order_by(table.id.desc()).offset(keep.keep_rows).limit(1))
    old = seen < now - timedelta(days=keep.keep_days)
    stmt = delete(table).where(old if cutoff is None else or_(old, table.id <= cutoff))
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return result.rowcount if isinstance(result, CursorResult) else 0


def prune_refused(session: Session, now: datetime, keep: Retention | None = None) -> dict[str, int]:
    """Delete what lies beyond the bounds; how many rows of each table went."""
    keep = keep or Retention()
    return {
        "dead_letters": _prune(session, DeadLetter, DeadLetter.last_at, now, keep),
        "quarantined_events": _prune(session, QuarantinedEvent, QuarantinedEvent.received_at, now, keep),
    }


def housekeep(db: Database, now: datetime, metrics: Metrics) -> None:
    """One round of the server's housekeeping loop: prune, count and log what went."""
    with db.write() as session:
        pruned = prune_refused(session, now)
    for table, count in pruned.items():
        if count:
            metrics.inc("refused_pruned", count, reason=table)
            log.info("pruned %d rows of %s beyond the kept bounds", count, table)
