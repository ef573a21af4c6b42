"""433 MHz sensors that report by field, through ``shouwang gateway decode`` with a station's
device list: every RFLink and rtl_433 line of a mapped sensor gives its whole events, and a
field no model lists still shows under its name."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

from gateway import cli

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

CONFIG = """
[gateway]
id = "gw-test-01"
data_dir = "data"

[[devices]]
id = "rf-fa20rf-97e3b2"
name = "厨房烟感"
model = "rflink-smoke-alarm"

[[devices]]
id = "rf-smokealert-1234"
name = "仓库烟感"
model = "rflink-smoke-alarm"

[[devices]]
id = "rf-pir-aa66"
name = "后院红外"
model = "rflink-pir"

[[devices]]
id = "rf-rm174rf-5bab23"
name = "卧室烟感"
model = "rflink-smoke-alarm"

[[devices]]
id = "rf-ev1527-0cd46b"
name = "后门门磁"
model = "kerui-door"

[[devices]]
id = "rf-keruisecurity-cd46b"
name = "客厅红外"
model = "kerui-security"

[[devices]]
id = "rf-fineoffsetwh55-0a3b1"
name = "卫生间水浸"
model = "fineoffset-wh55"
"""


def decode(tmp_path: Path, transport: str, text: str) -> list[dict[str, Any]]:
    conf = tmp_path / "gw.toml"
    conf.write_text(CONFIG)
    (tmp_path / "data").mkdir(exist_ok=True)
    out = io.StringIO()
    old_in, old_out = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = io.StringIO(text), out
    try:
        assert cli.main(["decode", "--config", str(conf), "--transport", transport]) == 0
    finally:
        sys.stdin, sys.stdout = old_in, old_out
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_rflink_sensor_lines(tmp_path: Path) -> None:
    lines = (VECTORS / "rflink_sensors.txt").read_text()
    lines += "20;3A;EV1527;ID=0cd46b;SWITCH=0e;CMD=ON;\n20;3B;EV1527;ID=0cd46b;SWITCH=07;CMD=ON;\n"
    assert decode(tmp_path, "rflink", lines) == [
        {"line": 1, "device": "rf-fa20rf-97e3b2", "kind": "fire", "data": {"code": "smokealert=on"}},
        {"line": 2, "device": "rf-smokealert-1234", "kind": "fire", "data": {"code": "smokealert=on"}},
        {"line": 3, "device": "rf-smokealert-1234", "kind": None, "data": {"code": "smokealert=off"}},
        {"line": 3, "device": "rf-smokealert-1234", "kind": "low_battery", "data": {"code": "bat=low"}},
        {"line": 4, "device": "rf-pir-aa66", "kind": "intrusion", "data": {"code": "pir=on"}},
        {"line": 5, "device": "rf-rm174rf-5bab23", "kind": None, "data": {"code": "01"}},
        {"line": 5, "device": "rf-rm174rf-5bab23", "kind": "fire", "data": {"code": "smokealert=on"}},
        # Not on the station's list: shown for pairing with what it sent, never an alarm.
        {"line": 6, "device": "rf-auriol-008f", "kind": None, "data": {"code": "bat=ok"}},
        {"line": 7, "device": "rf-sensor-0c2d", "kind": None, "data": {"code": "0"}},
        {"line": 8, "device": "rf-leak-7b10", "kind": None, "data": {"code": "water=on"}},
        {"line": 8, "device": "rf-leak-7b10", "kind": None, "data": {"code": "bat=ok"}},
        {"line": 9, "device": "rf-ev1527-0cd46b", "kind": "door_open", "data": {"code": "0e"}},
        {"line": 10, "device": "rf-ev1527-0cd46b", "kind": "door_close", "data": {"code": "07"}},
    ]


def test_rtl433_sensor_lines(tmp_path: Path) -> None:
    lines = (VECTORS / "rtl_433_sensors.jsonl").read_text()
    got = decode(tmp_path, "rtl433", lines)
    honeywell = [o for o in got if o["line"] in (1, 2)]
    # Honeywell contacts are not on this station's list: every field shows under its name.
    assert [(o["line"], o["data"]["code"], o["kind"]) for o in honeywell] == [
        (1, "alarm=0", None), (1, "tamper=0", None), (1, "battery_ok=1", None), (1, "event=160", None),
        (1, "state=open", None), (1, "contact_open=1", None), (1, "reed_open=1", None),
        (2, "alarm=1", None), (2, "tamper=0", None), (2, "battery_ok=1", None), (2, "event=52", None),
        (2, "state=closed", None), (2, "contact_open=0", None), (2, "reed_open=1", None),
    ]
    assert [o for o in got if o["line"] in (3, 4)] == [
        {"line": 3, "device": "rf-keruisecurity-cd46b", "kind": "intrusion",
         "data": {"code": "0a", "model": "Kerui-Security"}},
        {"line": 3, "device": "rf-keruisecurity-cd46b", "kind": None,
         "data": {"code": "state=motion", "model": "Kerui-Security"}},
        {"line": 3, "device": "rf-keruisecurity-cd46b", "kind": None,
         "data": {"code": "motion=1", "model": "Kerui-Security"}},
        {"line": 4, "device": "rf-fineoffsetwh55-0a3b1", "kind": "intrusion",
         "data": {"code": "alarm=1", "model": "Fineoffset-WH55"}},
        {"line": 4, "device": "rf-fineoffsetwh55-0a3b1", "kind": "low_battery",
         "data": {"code": "battery_ok=0", "model": "Fineoffset-WH55"}},
    ]
