"""The alarm-code table: Contact ID and SIA codes to kinds."""

from __future__ import annotations

import pytest

from protocol.contact_id import CodeMeaning, contact_id_meaning, sia_meaning
from protocol.errors import ProtocolError
from protocol.kinds import Kind


@pytest.mark.parametrize(
    ("qualifier", "code", "expected"),
    [
        (1, 100, CodeMeaning(Kind.MEDICAL, "Medical")),
        (1, 101, CodeMeaning(Kind.MEDICAL, "Personal emergency")),
        (1, 102, CodeMeaning(Kind.MEDICAL, "Fail to report in")),
        (1, 110, CodeMeaning(Kind.FIRE, "Fire")),
        (1, 111, CodeMeaning(Kind.FIRE, "Smoke")),
        (1, 118, CodeMeaning(Kind.FIRE, "Near alarm")),
        (1, 120, CodeMeaning(Kind.PANIC, "Panic")),
        (1, 121, CodeMeaning(Kind.PANIC, "Duress")),
        (1, 122, CodeMeaning(Kind.PANIC, "Silent panic")),
        (1, 130, CodeMeaning(Kind.INTRUSION, "Burglary")),
        (1, 134, CodeMeaning(Kind.INTRUSION, "Entry/exit")),
        (1, 139, CodeMeaning(Kind.INTRUSION, "Intrusion verifier")),
        (1, 137, CodeMeaning(Kind.TAMPER, "Tamper")),
        (3, 137, CodeMeaning(Kind.TAMPER_RESTORE, "Tamper", restore=True)),
        (1, 144, CodeMeaning(Kind.TAMPER, "Sensor tamper")),
        (3, 144, CodeMeaning(Kind.TAMPER_RESTORE, "Sensor tamper", restore=True)),
        (1, 145, CodeMeaning(Kind.TAMPER, "Expansion module tamper")),
        (1, 301, CodeMeaning(Kind.LOW_BATTERY, "AC loss")),
        (3, 301, CodeMeaning(Kind.BATTERY_OK, "AC loss", restore=True)),
        (1, 302, CodeMeaning(Kind.LOW_BATTERY, "Low system battery")),
        (3, 302, CodeMeaning(Kind.BATTERY_OK, "Low system battery", restore=True)),
        (1, 309, CodeMeaning(Kind.LOW_BATTERY, "Battery test failure")),
        (3, 309, CodeMeaning(Kind.BATTERY_OK, "Battery test failure", restore=True)),
        (1, 384, CodeMeaning(Kind.LOW_BATTERY, "RF low battery")),
        (3, 384, CodeMeaning(Kind.BATTERY_OK, "RF low battery", restore=True)),
        (1, 400, CodeMeaning(Kind.DOOR_OPEN, "Open/close")),
        (3, 400, CodeMeaning(Kind.DOOR_CLOSE, "Open/close")),
        (1, 401, CodeMeaning(Kind.DOOR_OPEN, "Open/close by user")),
        (3, 401, CodeMeaning(Kind.DOOR_CLOSE, "Open/close by user")),
        (3, 409, CodeMeaning(Kind.DOOR_CLOSE, "Keyswitch open/close")),
        (1, 601, CodeMeaning(Kind.TEST, "Manual trigger test report")),
        (1, 602, CodeMeaning(Kind.HEARTBEAT, "Periodic test report")),
        (1, 603, CodeMeaning(Kind.HEARTBEAT, "Periodic RF transmission")),
        # Alarm restores: kept as status, never a cancel.
        (3, 120, CodeMeaning(Kind.HEARTBEAT, "Panic restore", restore=True)),
        (3, 110, CodeMeaning(Kind.HEARTBEAT, "Fire restore", restore=True)),
        (3, 130, CodeMeaning(Kind.HEARTBEAT, "Burglary restore", restore=True)),
        # Still present: status; the first report opened the case.
        (6, 130, CodeMeaning(Kind.HEARTBEAT, "Burglary (still present)")),
        # Not in the table: an alarm-range code is a generic alarm, anything else status.
        (1, 150, CodeMeaning(Kind.INTRUSION, "Contact ID event 150", known=False)),
        (3, 150, CodeMeaning(Kind.HEARTBEAT, "Contact ID event 150", restore=True, known=False)),
        (1, 570, CodeMeaning(Kind.HEARTBEAT, "Contact ID event 570", known=False)),
    ],
)
def test_contact_id_table(qualifier: int, code: int, expected: CodeMeaning) -> None:
    assert contact_id_meaning(qualifier, code) == expected


@pytest.mark.parametrize(("qualifier", "code"), [(2, 130), (0, 130), (1, 1000), (1, -1)])
def test_contact_id_refusals(qualifier: int, code: int) -> None:
    with pytest.raises(ProtocolError, match="bad_code"):
        contact_id_meaning(qualifier, code)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("MA", CodeMeaning(Kind.MEDICAL, "Medical alarm")),
        ("FA", CodeMeaning(Kind.FIRE, "Fire alarm")),
        ("FH", CodeMeaning(Kind.HEARTBEAT, "Fire alarm restore", restore=True)),
        ("PA", CodeMeaning(Kind.PANIC, "Panic alarm")),
        ("HA", CodeMeaning(Kind.PANIC, "Holdup (duress) alarm")),
        ("BA", CodeMeaning(Kind.INTRUSION, "Burglary alarm")),
        ("BR", CodeMeaning(Kind.HEARTBEAT, "Burglary restoral", restore=True)),
        ("TA", CodeMeaning(Kind.TAMPER, "Tamper alarm")),
        ("TR", CodeMeaning(Kind.TAMPER_RESTORE, "Tamper restoral", restore=True)),
        ("AT", CodeMeaning(Kind.LOW_BATTERY, "AC trouble")),
        ("AR", CodeMeaning(Kind.BATTERY_OK, "AC restoral", restore=True)),
        ("YT", CodeMeaning(Kind.LOW_BATTERY, "System battery trouble")),
        ("YR", CodeMeaning(Kind.BATTERY_OK, "System battery restoral", restore=True)),
        ("OP", CodeMeaning(Kind.DOOR_OPEN, "Opening report")),
        ("CL", CodeMeaning(Kind.DOOR_CLOSE, "Closing report")),
        ("RP", CodeMeaning(Kind.HEARTBEAT, "Automatic test")),
        ("RX", CodeMeaning(Kind.TEST, "Manual test")),
        ("WA", CodeMeaning(Kind.INTRUSION, "Water alarm")),
        ("ZA", CodeMeaning(Kind.INTRUSION, "SIA event ZA", known=False)),
        ("ZH", CodeMeaning(Kind.HEARTBEAT, "SIA event ZH", restore=True, known=False)),
        ("ZT", CodeMeaning(Kind.HEARTBEAT, "SIA event ZT", known=False)),
    ],
)
def test_sia_table(code: str, expected: CodeMeaning) -> None:
    assert sia_meaning(code) == expected


@pytest.mark.parametrize("code", ["B", "BAA", "ba", "B1", "ÄÖ"])
def test_sia_refusals(code: str) -> None:
    with pytest.raises(ProtocolError, match="bad_code"):
        sia_meaning(code)
