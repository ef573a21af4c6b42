"""Bounds on every value a request brings: ids, offsets, text and times.

Strings are bounded by the column that stores them and may not hold control characters (a NUL
byte cannot even be sent to PostgreSQL); integers stay within 32 bits, the smallest integer
column; times must still be times once converted to UTC. Anything outside answers 422 before a
query runs. Each type shows its bounds in /openapi.json.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, Field, StringConstraints

MAX_ID = 2**31 - 1  # ids and offsets: the range of a 32-bit integer column

# One line of text: no control characters (they also keep NUL away from PostgreSQL).
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
# Free text: line breaks and tabs allowed, no other control characters.
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _text(max_length: int, *, min_length: int = 0, pattern: str = ONE_LINE) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=pattern)


# Identifiers and filters, each bounded by its column.
RegionPath = Annotated[str, _text(400, min_length=1)]
StationCode = Annotated[str, _text(64, min_length=1)]
GatewayId = Annotated[str, _text(32, min_length=1)]
DeviceId = Annotated[str, _text(64, min_length=1)]
CommandId = Annotated[str, _text(36, min_length=1)]
ModelName = Annotated[str, _text(64, min_length=1)]
Kind = Annotated[str, _text(32, min_length=1)]  # event kinds and alarm classes
State = Annotated[str, _text(16, min_length=1)]  # case states, region levels, gateway status
Assignee = Annotated[str, _text(64)]
UserName = Annotated[str, _text(64, min_length=1)]
BrokerUserName = Annotated[str, _text(80, min_length=1)]
Action = Annotated[str, _text(32, min_length=1)]
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$")]
Username = Annotated[str, _text(64, min_length=1)]

# Text fields of the bodies.
Name = Annotated[str, _text(200, min_length=1)]
Address = Annotated[str, _text(400)]
Note = Annotated[str, _text(2000, pattern=MULTI_LINE)]
Password = Annotated[str, _text(1024, min_length=1, pattern=MULTI_LINE)]
ContactKey = Annotated[str, _text(32, min_length=1)]
ContactValue = Annotated[str, _text(200)]
HolderContact = Annotated[dict[ContactKey, ContactValue], Field(max_length=10)]
# An alarm panel's AES key: 16, 24 or 32 bytes as hex (write-only, never returned).
PanelKey = Annotated[str, StringConstraints(pattern=r"^(?:[0-9A-Fa-f]{32}){1}(?:[0-9A-Fa-f]{16}){0,2}$")]
# A panel's zone (or user) number and its name.
ZoneNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,4}$")]
PanelZones = Annotated[dict[ZoneNumber, Name], Field(max_length=1000)]

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _as_utc(at: datetime) -> datetime:
    """A time without a zone means UTC, like every time on the wire."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range once converted to UTC") from None


UtcTime = Annotated[datetime, AfterValidator(_as_utc)]
