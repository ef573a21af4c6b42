"""Shouwang wire protocol: pure code, no I/O. Imported by gateway/ and server/."""

from protocol.errors import ProtocolError
from protocol.event import Event, event_id, format_time, parse_time
from protocol.kinds import ALARM_CLASS, DEFAULT_PRIORITY, OPENS_CASE, Kind, Priority
from protocol.topics import DEFAULT_PREFIX, Topics

__all__ = [
    "ALARM_CLASS",
    "DEFAULT_PREFIX",
    "DEFAULT_PRIORITY",
    "OPENS_CASE",
    "Event",
    "Kind",
    "Priority",
    "ProtocolError",
    "Topics",
    "event_id",
    "format_time",
    "parse_time",
]
