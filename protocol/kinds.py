"""Event kinds, priorities and alarm classes (contract: docs/protocol.md, section 1)."""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    ALARM = "alarm"  # never dropped, never evicted
    FAULT = "fault"
    STATUS = "status"


class Kind(StrEnum):
    PANIC = "panic"
    PANIC_CANCEL = "panic_cancel"
    MEDICAL = "medical"
    FIRE = "fire"
    INTRUSION = "intrusion"
    DOOR_OPEN = "door_open"
    DOOR_CLOSE = "door_close"
    TAMPER = "tamper"
    TAMPER_RESTORE = "tamper_restore"
    LOW_BATTERY = "low_battery"
    BATTERY_OK = "battery_ok"
    DEVICE_MISSING = "device_missing"
    DEVICE_BACK = "device_back"
    HEARTBEAT = "heartbeat"
    TEST = "test"


KINDS: frozenset[str] = frozenset(k.value for k in Kind)

# Priority a kind gets when the source does not say otherwise.
DEFAULT_PRIORITY: dict[Kind, Priority] = {
    Kind.PANIC: Priority.ALARM,
    Kind.PANIC_CANCEL: Priority.ALARM,
    Kind.MEDICAL: Priority.ALARM,
    Kind.FIRE: Priority.ALARM,
    Kind.INTRUSION: Priority.ALARM,
    Kind.DOOR_OPEN: Priority.STATUS,
    Kind.DOOR_CLOSE: Priority.STATUS,
    Kind.TAMPER: Priority.FAULT,
    Kind.TAMPER_RESTORE: Priority.FAULT,
    Kind.LOW_BATTERY: Priority.FAULT,
    Kind.BATTERY_OK: Priority.FAULT,
    Kind.DEVICE_MISSING: Priority.FAULT,
    Kind.DEVICE_BACK: Priority.FAULT,
    Kind.HEARTBEAT: Priority.STATUS,
    Kind.TEST: Priority.STATUS,
}

# Alarm class: the grouping key of cases. One open case per (device, alarm class).
# Kinds that open or join a case map to a class; restore/cancel kinds map to the class
# they settle; pure status kinds map to None (no case).
ALARM_CLASS: dict[Kind, str | None] = {
    Kind.PANIC: "panic",
    Kind.PANIC_CANCEL: "panic",
    Kind.MEDICAL: "medical",
    Kind.FIRE: "fire",
    Kind.INTRUSION: "intrusion",
    Kind.DOOR_OPEN: None,
    Kind.DOOR_CLOSE: None,
    Kind.TAMPER: "tamper",
    Kind.TAMPER_RESTORE: "tamper",
    Kind.LOW_BATTERY: "battery",
    Kind.BATTERY_OK: "battery",
    Kind.DEVICE_MISSING: "missing",
    Kind.DEVICE_BACK: "missing",
    Kind.HEARTBEAT: None,
    Kind.TEST: None,
}

# Kinds that open a case (the others only settle or annotate one).
OPENS_CASE: frozenset[Kind] = frozenset(
    {
        Kind.PANIC,
        Kind.MEDICAL,
        Kind.FIRE,
        Kind.INTRUSION,
        Kind.TAMPER,
        Kind.LOW_BATTERY,
        Kind.DEVICE_MISSING,
    }
)


def parse_kind(value: str) -> Kind:
    from protocol.errors import ProtocolError

    try:
        return Kind(value)
    except ValueError:
        raise ProtocolError("unknown_kind", repr(value)) from None


def parse_priority(value: str) -> Priority:
    from protocol.errors import ProtocolError

    try:
        return Priority(value)
    except ValueError:
        raise ProtocolError("unknown_priority", repr(value)) from None
