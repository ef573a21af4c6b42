"""BTHome v2 decoder (service data UUID 0xFCD2), with AES-CCM decryption. Pure, no I/O.

``decode_bthome(service_data, mac, key)`` is the one entry point. It understands every
object of the BTHome v2 format table that has a fixed size plus the two variable-length ones
(text, raw), names values the way the reference decoder does (``temperature``, ``battery``,
``button``; ``button_1``, ``button_2``... when an object occurs more than once) and reports
button and dimmer objects as events, not values.

Encryption (device info bit 0): ``payload = ciphertext || counter (4, LE) || MIC (4)``,
AES-128-CCM with a 4-byte tag and nonce ``MAC (6) || 0xD2 0xFC || device info (1) || counter``.
Replay protection needs state (the last counter per device); that lives in the gateway,
this module only hands out ``counter``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from protocol.errors import ProtocolError

UUID16 = 0xFCD2
_UUID_LE = struct.pack("<H", UUID16)

Value = int | float | bool | str

# object id -> (name, size in bytes, signed, factor, decimals); size 0 = length-prefixed.
_NUMERIC: dict[int, tuple[str, int, bool, float, int]] = {
    0x00: ("packet_id", 1, False, 1, 0),
    0x01: ("battery", 1, False, 1, 0),
    0x02: ("temperature", 2, True, 0.01, 2),
    0x03: ("humidity", 2, False, 0.01, 2),
    0x04: ("pressure", 3, False, 0.01, 2),
    0x05: ("illuminance", 3, False, 0.01, 2),
    0x06: ("mass", 2, False, 0.01, 2),
    0x07: ("mass_lb", 2, False, 0.01, 2),
    0x08: ("dew_point", 2, True, 0.01, 2),
    0x09: ("count", 1, False, 1, 0),
    0x0A: ("energy", 3, False, 0.001, 3),
    0x0B: ("power", 3, False, 0.01, 2),
    0x0C: ("voltage", 2, False, 0.001, 3),
    0x0D: ("pm25", 2, False, 1, 0),
    0x0E: ("pm10", 2, False, 1, 0),
    0x12: ("co2", 2, False, 1, 0),
    0x13: ("tvoc", 2, False, 1, 0),
    0x14: ("moisture", 2, False, 0.01, 2),
    0x2E: ("humidity", 1, False, 1, 0),
    0x2F: ("moisture", 1, False, 1, 0),
    0x3D: ("count", 2, False, 1, 0),
    0x3E: ("count", 4, False, 1, 0),
    0x3F: ("rotation", 2, True, 0.1, 1),
    0x40: ("distance_mm", 2, False, 1, 0),
    0x41: ("distance_m", 2, False, 0.1, 1),
    0x42: ("duration", 3, False, 0.001, 3),
    0x43: ("current", 2, False, 0.001, 3),
    0x44: ("speed", 2, False, 0.01, 2),
    0x45: ("temperature", 2, True, 0.1, 1),
    0x46: ("uv_index", 1, False, 0.1, 1),
    0x47: ("volume", 2, False, 0.1, 1),
    0x48: ("volume_ml", 2, False, 1, 0),
    0x49: ("volume_flow_rate", 2, False, 0.001, 3),
    0x4A: ("voltage", 2, False, 0.1, 1),
    0x4B: ("gas", 3, False, 0.001, 3),
    0x4C: ("gas", 4, False, 0.001, 3),
    0x4D: ("energy", 4, False, 0.001, 3),
    0x4E: ("volume", 4, False, 0.001, 3),
    0x4F: ("water", 4, False, 0.001, 3),
    0x50: ("timestamp", 4, False, 1, 0),
    0x51: ("acceleration", 2, False, 0.001, 3),
    0x52: ("gyroscope", 2, False, 0.001, 3),
    0x55: ("volume_storage", 4, False, 0.001, 3),
    0x56: ("conductivity", 2, False, 1, 0),
    0x57: ("temperature", 1, True, 1, 0),
    0x58: ("temperature", 1, True, 0.35, 2),
    0x59: ("count", 1, True, 1, 0),
    0x5A: ("count", 2, True, 1, 0),
    0x5B: ("count", 4, True, 1, 0),
    0x5C: ("power", 4, True, 0.01, 2),
    0x5D: ("current", 2, True, 0.001, 3),
    0x5E: ("direction", 2, False, 0.01, 2),
    0x5F: ("precipitation", 2, False, 0.1, 1),
    0x60: ("channel", 1, False, 1, 0),
    0x61: ("rotational_speed", 2, False, 1, 0),
    0xF0: ("device_type_id", 2, False, 1, 0),
    0xF1: ("firmware_version", 4, False, 1, 0),
    0xF2: ("firmware_version", 3, False, 1, 0),
}

# Binary sensors: one byte, 0 or 1.
_BINARY: dict[int, str] = {
    0x0F: "generic_boolean",
    0x10: "power_on",
    0x11: "opening",
    0x15: "battery_low",
    0x16: "battery_charging",
    0x17: "carbon_monoxide",
    0x18: "cold",
    0x19: "connectivity",
    0x1A: "door",
    0x1B: "garage_door",
    0x1C: "gas_detected",
    0x1D: "heat",
    0x1E: "light",
    0x1F: "lock",
    0x20: "moisture_detected",
    0x21: "motion",
    0x22: "moving",
    0x23: "occupancy",
    0x24: "plug",
    0x25: "presence",
    0x26: "problem",
    0x27: "running",
    0x28: "safety",
    0x29: "smoke",
    0x2A: "sound",
    0x2B: "tamper",
    0x2C: "vibration",
    0x2D: "window",
}

BUTTON_EVENTS: dict[int, str] = {
    0x01: "press",
    0x02: "double_press",
    0x03: "triple_press",
    0x04: "long_press",
    0x05: "long_double_press",
    0x06: "long_triple_press",
    0x80: "hold_press",
}
_BUTTON = 0x3A
_DIMMER = 0x3C
_TEXT = 0x53
_RAW = 0x54

_FLAG_ENCRYPTED = 0x01
_FLAG_TRIGGER = 0x04
_VERSION_SHIFT = 5


@dataclass(frozen=True, slots=True)
class BthomeAdvert:
    """One decoded advert.

    - ``mac``: the sender's address, upper case with colons (``A4:C1:38:8D:18:B2``).
    - ``encrypted``: the payload was AES-CCM protected (and the tag verified).
    - ``counter``: the encryption counter (monotonic per device) or None when not encrypted;
      the gateway rejects adverts whose counter is not newer than the last one it accepted.
    - ``packet_id``: object 0x00 if present; repeats of one advert carry the same id.
    - ``trigger_based``: the device sends only on change (no periodic adverts).
    - ``values``: sensor readings and binary states by name (``packet_id`` included, as the
      reference decoder does); numbers scaled to their unit, binary sensors as bool.
    - ``events``: button/dimmer events by name (``button``, or ``button_1``... when several),
      value a token such as ``press``, ``long_press``, ``rotate_left_3``. Event objects whose
      value is "none" (0) are left out.
    """

    mac: str
    encrypted: bool
    counter: int | None
    packet_id: int | None
    trigger_based: bool
    values: dict[str, Value] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)


def _mac_bytes(mac: str) -> bytes:
    try:
        raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise ProtocolError("bad_mac", repr(mac))
    return raw


def _nonce(mac: bytes, info: int, counter: bytes) -> bytes:
    return mac + _UUID_LE + bytes([info]) + counter


def decrypt_payload(service_data: bytes, mac: str, key: bytes) -> tuple[bytes, int]:
    """Return ``(plaintext objects, counter)`` of an encrypted advert."""
    if len(key) != 16:
        raise ProtocolError("bad_key", "BTHome keys are 16 bytes")
    if len(service_data) < 1 + 1 + 4 + 4:
        raise ProtocolError("truncated", "encrypted advert of %d bytes" % len(service_data))
    # Imported on first use: a gateway without encrypted BLE devices never loads AES (9 MB RSS).
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    info = service_data[0]
    ciphertext, counter, mic = service_data[1:-8], service_data[-8:-4], service_data[-4:]
    try:
        nonce = _nonce(_mac_bytes(mac), info, counter)
        plain = AESCCM(key, tag_length=4).decrypt(nonce, ciphertext + mic, None)
    except InvalidTag:
        raise ProtocolError("bad_mic", "wrong key or corrupted advert") from None
    return plain, struct.unpack("<I", counter)[0]


def encrypt_payload(objects: bytes, mac: str, key: bytes, counter: int, info: int = 0x41) -> bytes:
    """Build encrypted service data (what a device with ``key`` sends); used by tests and tools."""
    if len(key) != 16:
        raise ProtocolError("bad_key", "BTHome keys are 16 bytes")
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    count = struct.pack("<I", counter)
    sealed = AESCCM(key, tag_length=4).encrypt(_nonce(_mac_bytes(mac), info, count), objects, None)
    return bytes([info]) + sealed[:-4] + count + sealed[-4:]


def _objects(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        oid = data[i]
        i += 1
        if oid in _NUMERIC:
            size = _NUMERIC[oid][1]
        elif oid in _BINARY or oid == _BUTTON:
            size = 1
        elif oid == _DIMMER:
            size = 2
        elif oid in (_TEXT, _RAW):
            if i >= len(data):
                raise ProtocolError("truncated", "object 0x%02x has no length" % oid)
            size = data[i]
            i += 1
        else:
            # Object sizes are implicit in their id: past an unknown id nothing can be parsed.
            raise ProtocolError("undecodable", "unknown object id 0x%02x" % oid)
        if i + size > len(data):
            raise ProtocolError("truncated", "object 0x%02x needs %d bytes" % (oid, size))
        out.append((oid, data[i:i + size]))
        i += size
    return out


def _name(oid: int) -> str:
    if oid == _BUTTON:
        return "button"
    if oid == _DIMMER:
        return "dimmer"
    if oid == _TEXT:
        return "text"
    if oid == _RAW:
        return "raw"
    return _NUMERIC[oid][0] if oid in _NUMERIC else _BINARY[oid]


def _value(oid: int, raw: bytes) -> Value:
    if oid in _BINARY:
        return raw[0] != 0
    if oid == _TEXT:
        return raw.decode("utf-8", errors="replace")
    if oid == _RAW:
        return raw.hex()
    _, _, signed, factor, decimals = _NUMERIC[oid]
    number = int.from_bytes(raw, "little", signed=signed)
    if decimals == 0 and factor == 1:
        return number
    return round(number * factor, decimals)


def _event(oid: int, raw: bytes) -> str | None:
    if oid == _BUTTON:
        if raw[0] == 0:
            return None
        return BUTTON_EVENTS.get(raw[0], "unknown_%d" % raw[0])
    if raw[0] == 0:
        return None
    direction = {1: "rotate_left", 2: "rotate_right"}.get(raw[0], "unknown")
    return "%s_%d" % (direction, raw[1])


def decode_bthome(service_data: bytes, mac: str, key: bytes | None) -> BthomeAdvert:
    """Decode the service data of UUID 0xFCD2 (without the UUID itself).

    Raises ``ProtocolError`` with reason ``not_bthome`` (empty or not version 2),
    ``no_key`` (encrypted, no key given), ``bad_mic`` (wrong key or corrupted),
    ``truncated`` or ``undecodable`` (unknown object id, whose size cannot be known).
    """
    if not service_data:
        raise ProtocolError("not_bthome", "empty service data")
    info = service_data[0]
    if info >> _VERSION_SHIFT != 2:
        raise ProtocolError("not_bthome", "BTHome version %d" % (info >> _VERSION_SHIFT))
    mac_text = _mac_bytes(mac).hex(":").upper()
    encrypted = bool(info & _FLAG_ENCRYPTED)
    counter: int | None = None
    if encrypted:
        if key is None:
            raise ProtocolError("no_key", "encrypted advert from %s and no key" % mac_text)
        payload, counter = decrypt_payload(service_data, mac, key)
    else:
        payload = service_data[1:]
    objects = _objects(payload)
    totals: dict[str, int] = {}
    for oid, _ in objects:
        totals[_name(oid)] = totals.get(_name(oid), 0) + 1
    seen: dict[str, int] = {}
    values: dict[str, Value] = {}
    events: dict[str, str] = {}
    for oid, raw in objects:
        base = _name(oid)
        seen[base] = seen.get(base, 0) + 1
        name = "%s_%d" % (base, seen[base]) if totals[base] > 1 else base
        if oid in (_BUTTON, _DIMMER):
            event = _event(oid, raw)
            if event is not None:
                events[name] = event
        else:
            values[name] = _value(oid, raw)
    packet_id = values.get("packet_id")
    return BthomeAdvert(
        mac=mac_text,
        encrypted=encrypted,
        counter=counter,
        packet_id=packet_id if isinstance(packet_id, int) and not isinstance(packet_id, bool) else None,
        trigger_based=bool(info & _FLAG_TRIGGER),
        values=values,
        events=events,
    )
