"""Messages refused whole: kept once per distinct payload, with a count, for people to read."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.db.models import DeadLetter, Gateway, Region, Station
from server.safe_json import printable


def gateway_region_path(session: Session, gateway: str) -> str | None:
    row = session.execute(
        select(Region.path)
        .join(Station, Station.region_id == Region.id)
        .join(Gateway, Gateway.station_id == Station.id)
        .where(Gateway.id == gateway)
    ).first()
    return row[0] if row is not None else None


def record_dead_letter(
    session: Session, gateway: str | None, topic: str, payload: bytes, reason: str, detail: str, now: datetime
) -> None:
    """Insert the payload, or count it again when the same one (topic and bytes) is known."""
    digest = hashlib.sha256(topic.encode("utf-8", "replace") + b"\x00" + payload).hexdigest()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = DeadLetter.__table__
    stmt = dialect.insert(table).values(
        gateway=gateway,
        topic=printable(topic),
        reason=reason[:32],
        detail=printable(detail),
        size=len(payload),
        digest=digest,
        payload=payload[: DeadLetter.KEEP_BYTES],
        count=1,
        first_at=now,
        last_at=now,
        region_path=gateway_region_path(session, gateway) if gateway is not None else None,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c.digest],
            set_={"count": table.c.count + 1, "last_at": now},
        )
    )
