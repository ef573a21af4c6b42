"""Identifier rules (contract: docs/protocol.md, section 1)."""

from __future__ import annotations

import re

from protocol.errors import ProtocolError

GATEWAY_ID = re.compile(r"[a-z0-9-]{3,32}")
DEVICE_ID = re.compile(
    r"(sn-[0-9a-f]{1,16}|ble-[0-9a-f]{12}|rf-[a-z0-9]{1,16}-[0-9a-f]{1,16}|sia-[0-9a-f]{3,16})"
)
NODE_ID = re.compile(r"[0-9a-f]{1,16}")


def check_gateway_id(value: str) -> str:
    if not GATEWAY_ID.fullmatch(value):
        raise ProtocolError("bad_gateway_id", repr(value))
    return value


def check_device_id(value: str) -> str:
    if not DEVICE_ID.fullmatch(value):
        raise ProtocolError("bad_device_id", repr(value))
    return value


def serial_device_id(node: str) -> str:
    """``00a3`` -> ``sn-00a3``."""
    if not NODE_ID.fullmatch(node):
        raise ProtocolError("bad_node_id", repr(node))
    return "sn-" + node


def ble_device_id(mac: str) -> str:
    """``A4:C1:38:8D:18:B2`` -> ``ble-a4c1388d18b2``."""
    hexes = mac.replace(":", "").replace("-", "").lower()
    if not re.fullmatch(r"[0-9a-f]{12}", hexes):
        raise ProtocolError("bad_mac", repr(mac))
    return "ble-" + hexes


def rf_device_id(protocol_name: str, code: str | int) -> str:
    """``("EV1527", "01e9f5")`` -> ``rf-ev1527-01e9f5``; integer codes become hex."""
    code_hex = format(code, "x") if isinstance(code, int) else code.lower()
    return check_device_id("rf-" + protocol_name.lower().replace("_", "") + "-" + code_hex)


def panel_device_id(account: str) -> str:
    """SIA DC-09 account ``4F39`` -> ``sia-4f39`` (3-16 hex digits)."""
    return check_device_id("sia-" + account.lower())
