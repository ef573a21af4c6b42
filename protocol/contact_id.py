"""What alarm panels' event codes mean: Ademco Contact ID and SIA DCS codes -> event kinds.

Pure and table-driven. A panel reports "what happened" as a Contact ID event (qualifier 1 new
event or opening, 3 restore or closing, 6 previously reported, plus a three-digit code) or as a
two-letter SIA code (``BA`` burglary alarm, ``BR`` burglary restore...). Both land here as a
``CodeMeaning``: the kind the server stores, and a label for people.

The server derives priority and alarm class from the kind (``protocol.kinds``), never from the
panel. Restores of alarms (a fire zone back to normal, a panic button released) carry no kind of
their own in the wire contract: they are kept as ``heartbeat`` status with ``restore`` set, so
the panel's word is stored and shown, and no case is opened or closed by it. Restores of faults
(AC back, battery good, tamper closed) are ``battery_ok`` and ``tamper_restore`` and settle the
fault's case like the same kinds from a gateway.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ProtocolError
from protocol.kinds import Kind

# Contact ID event qualifiers.
NEW = 1  # new event, or an opening (disarm)
RESTORE = 3  # restore, or a closing (arm)
REPEAT = 6  # previously reported condition still present (status)


@dataclass(frozen=True, slots=True)
class CodeMeaning:
    kind: Kind
    label: str  # English name of the code, as the standards name it
    restore: bool = False  # the code reports a condition ending
    known: bool = True  # False: the code is not in the table (generic meaning given)


@dataclass(frozen=True, slots=True)
class _Row:
    first: int
    last: int
    label: str
    new: Kind  # qualifier 1
    restore: Kind | None  # qualifier 3; None: alarm restore, kept as status


# Contact ID event codes (SIA DC-05). Ranges are inclusive; the first matching row wins, so a
# single code listed before its range overrides it (137 is a tamper inside burglary).
_CID: tuple[_Row, ...] = (
    _Row(100, 100, "Medical", Kind.MEDICAL, None),
    _Row(101, 101, "Personal emergency", Kind.MEDICAL, None),
    _Row(102, 102, "Fail to report in", Kind.MEDICAL, None),
    _Row(110, 110, "Fire", Kind.FIRE, None),
    _Row(111, 111, "Smoke", Kind.FIRE, None),
    _Row(112, 112, "Combustion", Kind.FIRE, None),
    _Row(113, 113, "Water flow", Kind.FIRE, None),
    _Row(114, 114, "Heat", Kind.FIRE, None),
    _Row(115, 115, "Pull station", Kind.FIRE, None),
    _Row(116, 116, "Duct", Kind.FIRE, None),
    _Row(117, 117, "Flame", Kind.FIRE, None),
    _Row(118, 118, "Near alarm", Kind.FIRE, None),
    _Row(120, 120, "Panic", Kind.PANIC, None),
    _Row(121, 121, "Duress", Kind.PANIC, None),
    _Row(122, 122, "Silent panic", Kind.PANIC, None),
    _Row(123, 123, "Audible panic", Kind.PANIC, None),
    _Row(137, 137, "Tamper", Kind.TAMPER, Kind.TAMPER_RESTORE),
    _Row(130, 130, "Burglary", Kind.INTRUSION, None),
    _Row(131, 131, "Perimeter", Kind.INTRUSION, None),
    _Row(132, 132, "Interior", Kind.INTRUSION, None),
    _Row(133, 133, "24 hour (safe)", Kind.INTRUSION, None),
    _Row(134, 134, "Entry/exit", Kind.INTRUSION, None),
    _Row(135, 135, "Day/night", Kind.INTRUSION, None),
    _Row(136, 136, "Outdoor", Kind.INTRUSION, None),
    _Row(138, 138, "Near alarm", Kind.INTRUSION, None),
    _Row(139, 139, "Intrusion verifier", Kind.INTRUSION, None),
    _Row(140, 140, "General alarm", Kind.INTRUSION, None),
    _Row(144, 144, "Sensor tamper", Kind.TAMPER, Kind.TAMPER_RESTORE),
    _Row(145, 145, "Expansion module tamper", Kind.TAMPER, Kind.TAMPER_RESTORE),
    _Row(151, 151, "Gas detected", Kind.FIRE, None),
    _Row(154, 154, "Water leakage", Kind.INTRUSION, None),
    _Row(158, 158, "High temperature", Kind.FIRE, None),
    _Row(162, 162, "Carbon monoxide detected", Kind.FIRE, None),
    _Row(301, 301, "AC loss", Kind.LOW_BATTERY, Kind.BATTERY_OK),
    _Row(302, 302, "Low system battery", Kind.LOW_BATTERY, Kind.BATTERY_OK),
    _Row(309, 309, "Battery test failure", Kind.LOW_BATTERY, Kind.BATTERY_OK),
    _Row(383, 383, "Sensor tamper", Kind.TAMPER, Kind.TAMPER_RESTORE),
    _Row(384, 384, "RF low battery", Kind.LOW_BATTERY, Kind.BATTERY_OK),
    _Row(400, 400, "Open/close", Kind.DOOR_OPEN, Kind.DOOR_CLOSE),
    _Row(401, 401, "Open/close by user", Kind.DOOR_OPEN, Kind.DOOR_CLOSE),
    _Row(402, 402, "Group open/close", Kind.DOOR_OPEN, Kind.DOOR_CLOSE),
    _Row(403, 403, "Automatic open/close", Kind.DOOR_OPEN, Kind.DOOR_CLOSE),
    _Row(404, 404, "Late to open/close", Kind.DOOR_OPEN, Kind.DOOR_CLOSE),
    _Row(405, 405, "Deferred open/close", Kind.DOOR_OPEN, Kind.DOOR_CLOSE),
    _Row(406, 406, "Cancel", Kind.DOOR_OPEN, Kind.DOOR_CLOSE),
    _Row(407, 407, "Remote arm/disarm", Kind.DOOR_OPEN, Kind.DOOR_CLOSE),
    _Row(408, 408, "Quick arm", Kind.DOOR_OPEN, Kind.DOOR_CLOSE),
    _Row(409, 409, "Keyswitch open/close", Kind.DOOR_OPEN, Kind.DOOR_CLOSE),
    _Row(601, 601, "Manual trigger test report", Kind.TEST, Kind.TEST),
    _Row(602, 602, "Periodic test report", Kind.HEARTBEAT, Kind.HEARTBEAT),
    _Row(603, 603, "Periodic RF transmission", Kind.HEARTBEAT, Kind.HEARTBEAT),
)

# SIA DCS two-letter codes (SIA DC-03): code -> (label, kind, is a restore).
_SIA: dict[str, tuple[str, Kind, bool]] = {
    "MA": ("Medical alarm", Kind.MEDICAL, False),
    "MH": ("Medical alarm restore", Kind.HEARTBEAT, True),
    "QA": ("Emergency alarm", Kind.MEDICAL, False),
    "QH": ("Emergency alarm restore", Kind.HEARTBEAT, True),
    "FA": ("Fire alarm", Kind.FIRE, False),
    "FH": ("Fire alarm restore", Kind.HEARTBEAT, True),
    "GA": ("Gas alarm", Kind.FIRE, False),
    "GH": ("Gas alarm restore", Kind.HEARTBEAT, True),
    "KA": ("Heat alarm", Kind.FIRE, False),
    "KH": ("Heat alarm restore", Kind.HEARTBEAT, True),
    "PA": ("Panic alarm", Kind.PANIC, False),
    "PH": ("Panic alarm restore", Kind.HEARTBEAT, True),
    "HA": ("Holdup (duress) alarm", Kind.PANIC, False),
    "HH": ("Holdup alarm restore", Kind.HEARTBEAT, True),
    "BA": ("Burglary alarm", Kind.INTRUSION, False),
    "BH": ("Burglary alarm restore", Kind.HEARTBEAT, True),
    "BR": ("Burglary restoral", Kind.HEARTBEAT, True),
    "BV": ("Burglary verified", Kind.INTRUSION, False),
    "WA": ("Water alarm", Kind.INTRUSION, False),
    "WH": ("Water alarm restore", Kind.HEARTBEAT, True),
    "TA": ("Tamper alarm", Kind.TAMPER, False),
    "TR": ("Tamper restoral", Kind.TAMPER_RESTORE, True),
    "AT": ("AC trouble", Kind.LOW_BATTERY, False),
    "AR": ("AC restoral", Kind.BATTERY_OK, True),
    "YT": ("System battery trouble", Kind.LOW_BATTERY, False),
    "YR": ("System battery restoral", Kind.BATTERY_OK, True),
    "XT": ("Transmitter battery trouble", Kind.LOW_BATTERY, False),
    "XR": ("Transmitter battery restoral", Kind.BATTERY_OK, True),
    "OP": ("Opening report", Kind.DOOR_OPEN, False),
    "CL": ("Closing report", Kind.DOOR_CLOSE, False),
    "OA": ("Automatic opening", Kind.DOOR_OPEN, False),
    "CA": ("Automatic closing", Kind.DOOR_CLOSE, False),
    "OR": ("Disarm from alarm", Kind.DOOR_OPEN, False),
    "RP": ("Automatic test", Kind.HEARTBEAT, False),
    "RR": ("Power up", Kind.HEARTBEAT, False),
    "RX": ("Manual test", Kind.TEST, False),
}


# The SIA codes the table names (others get the generic meaning).
SIA_CODES: tuple[str, ...] = tuple(_SIA)


def _contact_id_row(code: int) -> _Row | None:
    return next((row for row in _CID if row.first <= code <= row.last), None)


def contact_id_meaning(qualifier: int, code: int) -> CodeMeaning:
    """Meaning of Contact ID ``<qualifier><code>`` (``1 130``, ``3 401``, ``1 602``).

    Codes the table does not list still get a safe meaning: an unknown new event in the
    alarm range (100-199) is a generic alarm (``intrusion``: someone goes and looks), anything
    else is status. Raises ``ProtocolError`` (``bad_code``) for a qualifier or code that is not
    Contact ID at all.
    """
    if qualifier not in (NEW, RESTORE, REPEAT):
        raise ProtocolError("bad_code", "Contact ID qualifier %r" % qualifier)
    if not 0 <= code <= 999:
        raise ProtocolError("bad_code", "Contact ID event %r" % code)
    row = _contact_id_row(code)
    if row is None:
        alarm = 100 <= code <= 199 and qualifier == NEW
        return CodeMeaning(
            Kind.INTRUSION if alarm else Kind.HEARTBEAT,
            "Contact ID event %03d" % code,
            restore=qualifier == RESTORE,
            known=False,
        )
    if qualifier == RESTORE:
        if row.restore is None:
            return CodeMeaning(Kind.HEARTBEAT, row.label + " restore", restore=True)
        restore = row.restore not in (Kind.DOOR_CLOSE, Kind.HEARTBEAT, Kind.TEST)
        return CodeMeaning(row.restore, row.label, restore=restore)
    if qualifier == REPEAT:
        # "Still present": the first report opened the case; this one is status.
        return CodeMeaning(Kind.HEARTBEAT, row.label + " (still present)")
    return CodeMeaning(row.new, row.label)


def sia_meaning(code: str) -> CodeMeaning:
    """Meaning of a SIA DCS event code (``BA``, ``CL``, ``RP``...).

    Unknown codes follow the SIA naming rule: a second letter ``A`` is an alarm (generic:
    ``intrusion``), anything else is status. Raises ``ProtocolError`` (``bad_code``) for a code
    that is not two capital letters.
    """
    if len(code) != 2 or not code.isascii() or not code.isalpha() or not code.isupper():
        raise ProtocolError("bad_code", "SIA code %r" % code)
    known = _SIA.get(code)
    if known is not None:
        label, kind, restore = known
        return CodeMeaning(kind, label, restore=restore)
    alarm = code[1] == "A"
    return CodeMeaning(
        Kind.INTRUSION if alarm else Kind.HEARTBEAT,
        "SIA event %s" % code,
        restore=code[1] in "HR",
        known=False,
    )
