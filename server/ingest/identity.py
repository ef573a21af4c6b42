"""Which stored identity each incoming event gets: new, a resend, or a reused id.

The idempotency contract compares content on a repeated id. An identical resend is a
duplicate (acked again, stored once). A different event under an id the server already holds
(a gateway reinstalled with an empty outbox starts at seq 1 again) is a new event: it is
stored under a fresh ``<gateway>:<seq>`` above everything the server holds for that gateway,
with the id it was sent under kept in ``sent_id``, so its own resends are recognised, and the
gateway is told the high-water mark to continue above.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from protocol.event import Event
from server.db.models import EventRow, Gateway
from server.db.upsert import insert_ignore_many
from server.errors import ServerError

log = logging.getLogger(__name__)

MAX_ALLOCATION_ROUNDS = 50  # concurrent writers taking the same fresh seqs; each round one wins

Content = tuple[str, str, datetime, int | None, Any]


def content(ev: Event) -> Content:
    """What makes two events under one id the same event (the server derives priority)."""
    return (ev.device, ev.kind.value, ev.at, ev.device_seq, ev.data)


def _row_content(row: EventRow) -> Content:
    return (row.device_id, row.kind, row.at, row.device_seq, row.data)


@dataclass
class Identities:
    fresh: list[Event] = field(default_factory=list)  # stored now, in batch order, with stored ids
    duplicates: list[str] = field(default_factory=list)  # wire ids already stored with this content
    reassigned: dict[str, str] = field(default_factory=dict)  # wire id -> stored id, new this batch
    high_water: int | None = None  # set when the gateway is behind what the server holds
    wire_seqs: list[int] = field(default_factory=list)  # every event handled: what the ack names


class SeqAllocationError(ServerError):
    reason = "seq_allocation"


def store_rows(session: Session, events: Sequence[Event], rows: list[dict[str, Any]]) -> Identities:
    """Insert ``rows`` (one per event, keyed ``id``) and sort out repeated ids.

    Exactly once across server instances: the original rows of conflicting ids are locked
    before their resends are looked for (PostgreSQL), and SQLite has a single writer.
    """
    out = Identities()
    inserted = insert_ignore_many(session, EventRow, rows, [EventRow.id])
    taken: set[str] = set()
    repeats: set[int] = set()
    for index, ev in enumerate(events):
        if ev.id in inserted and ev.id not in taken:
            taken.add(ev.id)
        else:
            repeats.add(index)
    moved = _settle_repeats(session, events, rows, repeats, out) if repeats else {}
    for index, ev in enumerate(events):
        out.wire_seqs.append(ev.seq)
        if index not in repeats:
            out.fresh.append(ev)
        elif index in moved:
            out.fresh.append(moved[index])
    return out


def _settle_repeats(
    session: Session,
    events: Sequence[Event],
    rows: list[dict[str, Any]],
    repeats: set[int],
    out: Identities,
) -> dict[int, Event]:
    gateway = events[0].gateway
    wire_ids = sorted({events[i].id for i in repeats})
    # Lock the rows holding these ids first, then read in a new statement: a concurrent
    # instance settling the same reused id has committed its row by the time we read.
    session.scalars(
        select(EventRow.id).where(EventRow.id.in_(wire_ids)).order_by(EventRow.id).with_for_update()
    ).all()
    # wire id -> contents stored as sent under it, each with whether it was reassigned
    known: dict[str, list[tuple[Content, bool]]] = {}
    for row in session.scalars(
        select(EventRow).where(or_(EventRow.id.in_(wire_ids), EventRow.sent_id.in_(wire_ids)))
    ):
        if row.sent_id is None:
            known.setdefault(row.id, []).append((_row_content(row), False))
        else:  # a reassigned event: known under the id it was sent as, not the one it sits under
            known.setdefault(row.sent_id, []).append((_row_content(row), True))
    wanted = set(wire_ids)
    for index, ev in enumerate(events):  # rows stored moments ago by this batch count too
        if index not in repeats and ev.id in wanted:
            known.setdefault(ev.id, []).append((content(ev), False))
    behind = False
    pending: list[tuple[int, Event]] = []
    for index in sorted(repeats):
        ev = events[index]
        mine = content(ev)
        match = next((was_moved for seen, was_moved in known.get(ev.id, []) if seen == mine), None)
        if match is not None:
            out.duplicates.append(ev.id)
            behind = behind or match  # a resend of a reused id: the gateway has not moved on yet
            continue
        # A different event under a used id is the new event it is, with an identity of its own.
        known.setdefault(ev.id, []).append((mine, True))
        pending.append((index, ev))
        behind = True
    moved = _allocate(session, gateway, rows, pending, out) if pending else {}
    if behind:
        out.high_water = _high_water(session, gateway)
    if pending:
        shown = ", ".join("%s stored as %s" % kv for kv in list(out.reassigned.items())[:10])
        log.warning(
            "gateway %s reused %d seqs it had sent before (a reinstall?): %s%s; told to continue above %d",
            gateway,
            len(out.reassigned),
            shown,
            ", ..." if len(out.reassigned) > 10 else "",
            out.high_water,
        )
    return moved


def event_sent_as(session: Session, wire_id: str) -> EventRow | None:
    """The event a gateway means by an id it sent: the latest one stored as sent under that id
    (a reused id, stored under a fresh seq), else the one stored under it, if it was sent so."""
    moved = session.scalars(
        select(EventRow).where(EventRow.sent_id == wire_id).order_by(EventRow.seq.desc()).limit(1)
    ).first()
    if moved is not None:
        return moved
    row = session.get(EventRow, wire_id)
    return row if row is not None and row.sent_id is None else None


def _high_water(session: Session, gateway: str) -> int:
    top = session.scalar(select(func.max(EventRow.seq)).where(EventRow.gateway_id == gateway))
    return int(top or 0)


def _allocate(
    session: Session,
    gateway: str,
    rows: list[dict[str, Any]],
    pending: list[tuple[int, Event]],
    out: Identities,
) -> dict[int, Event]:
    """Fresh seqs above the gateway's highest; a seq another writer took meanwhile is retried."""
    moved: dict[int, Event] = {}
    waiting = pending
    for _ in range(MAX_ALLOCATION_ROUNDS):
        base = _high_water(session, gateway)
        tries = [(index, dataclasses.replace(ev, seq=base + n)) for n, (index, ev) in enumerate(waiting, 1)]
        new_rows = [
            {**rows[index], "id": new.id, "seq": new.seq, "sent_id": rows[index]["id"]}
            for index, new in tries
        ]
        inserted = insert_ignore_many(session, EventRow, new_rows, [EventRow.id])
        for index, new in tries:
            if new.id in inserted:
                moved[index] = new
                out.reassigned[rows[index]["id"]] = new.id
        waiting = [(index, ev) for index, ev in waiting if index not in moved]
        if not waiting:
            _note_on_gateway(session, gateway, len(moved), rows[pending[0][0]]["received_at"])
            return moved
    raise SeqAllocationError("no free seq for %d reused ids of %s" % (len(waiting), gateway))


def _note_on_gateway(session: Session, gateway: str, count: int, now: datetime) -> None:
    session.execute(
        update(Gateway)
        .where(Gateway.id == gateway)
        .values(reused_seqs=Gateway.reused_seqs + count, reused_seq_at=now)
        .execution_options(synchronize_session=False)
    )
