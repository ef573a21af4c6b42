"""Catalog models of alarm sensors that RF receivers report by field, and of alarm panels:
the real receiver lines map to the right kinds, and the panel model lists every kind the
Contact ID / SIA code table can give."""

from __future__ import annotations

from pathlib import Path

from hardware.catalog import load_catalog
from protocol.contact_id import SIA_CODES, contact_id_meaning, sia_meaning
from protocol.kinds import Kind
from protocol.rflink import parse_rflink
from protocol.rtl433 import parse_rtl433

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
CATALOG = load_catalog()


def _kinds(model: str, tokens: tuple[str, ...]) -> list[tuple[str, Kind | None]]:
    """(token, kind) for every token the model lists; unlisted tokens are left out."""
    m = CATALOG[model]
    return [(t, m.kind_for(t)) for t in tokens if m.knows(t)]


def test_rflink_sensor_lines() -> None:
    lines = (VECTORS / "rflink_sensors.txt").read_text().splitlines()
    packets = [parse_rflink(line) for line in lines]
    models = ["rflink-smoke-alarm", "rflink-smoke-alarm", "rflink-smoke-alarm", "rflink-pir",
              "rflink-smoke-alarm"]
    got = [(p.device_id, _kinds(m, p.tokens)) for p, m in zip(packets[:5], models, strict=True)]
    assert got == [
        ("rf-fa20rf-97e3b2", [("smokealert=on", Kind.FIRE)]),
        ("rf-smokealert-1234", [("smokealert=on", Kind.FIRE)]),
        ("rf-smokealert-1234", [("smokealert=off", None), ("bat=low", Kind.LOW_BATTERY)]),
        ("rf-pir-aa66", [("pir=on", Kind.INTRUSION)]),
        ("rf-rm174rf-5bab23", [("01", None), ("smokealert=on", Kind.FIRE)]),
    ]
    for packet, model in zip(packets[:5], models, strict=True):
        assert packet.protocol.lower() in CATALOG[model].rf.protocols  # type: ignore[union-attr]


def test_rtl433_sensor_lines() -> None:
    lines = (VECTORS / "rtl_433_sensors.jsonl").read_text().splitlines()
    kerui = parse_rtl433(lines[2])
    wh55 = parse_rtl433(lines[3])
    assert (kerui.device_id, kerui.code, _kinds("kerui-security", kerui.tokens)) == (
        "rf-keruisecurity-cd46b", "0a", [("0a", Kind.INTRUSION), ("state=motion", None), ("motion=1", None)])
    assert (wh55.device_id, _kinds("fineoffset-wh55", wh55.tokens)) == (
        "rf-fineoffsetwh55-0a3b1", [("alarm=1", Kind.INTRUSION), ("battery_ok=0", Kind.LOW_BATTERY)])
    # rtl_433's Kerui-Security decoder: command -> state.
    for cmd, state, kind in [(0xE, "open", Kind.DOOR_OPEN), (0x7, "close", Kind.DOOR_CLOSE),
                             (0xB, "tamper", Kind.TAMPER), (0x5, "water", Kind.INTRUSION),
                             (0xF, "battery", Kind.LOW_BATTERY)]:
        line = '{"model" : "Kerui-Security", "id" : 840811, "cmd" : %d, "state" : "%s"}' % (cmd, state)
        code = "%02x" % cmd
        assert _kinds("kerui-security", parse_rtl433(line).tokens) == [(code, kind), ("state=" + state, None)]


def test_kerui_sensors_as_ev1527_codes() -> None:
    """The rtl_433 id 840811 with command 0xa is the EV1527 code cd46ba: RFLink prints it as
    ID=0cd46b SWITCH=0a, our bridge as the whole code."""
    cases = [
        ("kerui-pir", "0a", Kind.INTRUSION),
        ("kerui-door", "0e", Kind.DOOR_OPEN),
        ("kerui-door", "07", Kind.DOOR_CLOSE),
        ("kerui-water-leak", "05", Kind.INTRUSION),
        ("kerui-pir", "0b", Kind.TAMPER),
        ("kerui-water-leak", "0f", Kind.LOW_BATTERY),
    ]
    for model, switch, kind in cases:
        packet = parse_rflink("20;3A;EV1527;ID=0cd46b;SWITCH=%s;CMD=ON;" % switch)
        assert (packet.device_id, _kinds(model, packet.tokens)) == ("rf-ev1527-0cd46b", [(switch, kind)])
        assert CATALOG.rf_split("ev1527", "cd46b" + switch[1]) == ("rf-ev1527-0cd46b", switch)


def test_field_sensors_have_no_code_split() -> None:
    assert CATALOG.rf_protocols == {"ev1527", "pt2262", "genericremote"}
    rule = CATALOG["rflink-smoke-alarm"].rf
    assert rule is not None and not rule.splits


def test_panel_model_lists_every_kind_the_code_table_gives() -> None:
    table = {contact_id_meaning(q, code).kind for q in (1, 3, 6) for code in range(1000)}
    table |= {sia_meaning(code).kind for code in SIA_CODES}
    table |= {sia_meaning(code).kind for code in ("ZA", "ZH", "ZT")}
    panel = CATALOG["sia-panel"]
    assert panel.transport == "sia"
    assert table | {Kind.DEVICE_MISSING, Kind.DEVICE_BACK} == panel.emits
    assert (panel.heartbeat_s, panel.supervision_s) == (120, 600)
