"""RFLink receiver lines (57600 baud serial). Pure, no I/O.

A packet line looks like ``20;06;EV1527;ID=045a42;SWITCH=06;CMD=ON;``: ``20`` marks
receiver-to-host, then a rolling packet counter (hex), the protocol name, and ``KEY=VALUE``
fields. Other ``20;..`` lines (banner, ``OK``, ``PONG``, debug) carry no radio packet.

Switches and remotes say what happened with ``SWITCH``/``CMD``; sensors say it with fields of
their own: ``20;0A;Alecto;ID=4c01;SMOKEALERT=ON;``, ``PIR=ON``, ``WATER=ON``, ``BAT=LOW``. Each
such state field becomes a token ``<field>=<state>`` in lower case (``smokealert=on``), which the
device catalog maps to a kind like a switch code. Fields with a measured value (``TEMP=00c3``,
``CO2=03e8``) are readings: kept with their names, never an event by themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from protocol.errors import ProtocolError
from protocol.ids import rf_device_id

_FIELD = re.compile(r"[A-Z0-9_]{1,16}=[^;=]{0,64}")
_PROTO = re.compile(r"[A-Za-z0-9_]{1,24}")
_NOT_PACKETS = frozenset({"OK", "PONG", "DEBUG", "CMD UNKNOWN", "VER"})
# Fields that name the transmitter or its switch, not a sensor state or reading.
_ADDRESS_FIELDS = frozenset({"ID", "SWITCH", "CMD"})
# Values that are a state (an event token), not a measurement.
STATE_VALUES = frozenset(
    {"ON", "OFF", "LOW", "OK", "ALARM", "OPEN", "CLOSED", "CLOSE", "TAMPER", "ALLON", "ALLOFF"}
)


@dataclass(frozen=True, slots=True)
class RflinkPacket:
    counter: int
    protocol: str  # as RFLink names it, e.g. "EV1527"
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        value = self.fields.get("ID")
        if value is None:
            raise ProtocolError("no_id", "%s packet without ID" % self.protocol)
        return value.lower()

    @property
    def device_id(self) -> str:
        """``rf-ev1527-045a42``."""
        address = self.address
        try:
            return rf_device_id(self.protocol, address)
        except ProtocolError:
            raise ProtocolError("bad_id", "%s ID=%s" % (self.protocol, self.fields.get("ID"))) from None

    @property
    def code(self) -> str:
        """What distinguishes the sensor's functions under one ID: ``SWITCH`` (lower case),
        with ``-off`` and the like appended when ``CMD`` is not ``ON``."""
        if "SWITCH" not in self.fields and "CMD" not in self.fields:
            states = self.state_tokens
            return states[0] if states else "0"
        switch = self.fields.get("SWITCH", "0").lower()
        cmd = self.fields.get("CMD", "ON").upper()
        return switch if cmd == "ON" else "%s-%s" % (switch, cmd.lower())

    @property
    def state_tokens(self) -> tuple[str, ...]:
        """``("smokealert=on", "bat=low")``: the sensor state fields, in line order."""
        return tuple(
            "%s=%s" % (key.lower(), value.lower())
            for key, value in self.fields.items()
            if key not in _ADDRESS_FIELDS and value.upper() in STATE_VALUES
        )

    @property
    def tokens(self) -> tuple[str, ...]:
        """Everything in the packet that may be an event: the switch code when the line has a
        ``SWITCH`` or ``CMD``, then the state tokens."""
        switch = (self.code,) if "SWITCH" in self.fields or "CMD" in self.fields else ()
        return switch + self.state_tokens

    @property
    def readings(self) -> dict[str, str]:
        """Measured values by lower-case field name (``{"temp": "00c3", "co2": "03e8"}``)."""
        return {
            key.lower(): value
            for key, value in self.fields.items()
            if key not in _ADDRESS_FIELDS and value.upper() not in STATE_VALUES
        }


def parse_rflink(line: str | bytes) -> RflinkPacket:
    """Raise ``ProtocolError`` with reason ``not_packet`` for the receiver's own messages and
    ``bad_line`` for anything malformed."""
    if isinstance(line, bytes):
        try:
            line = line.decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError("bad_line", "not ASCII") from None
    text = line.strip()
    if not text.endswith(";"):
        raise ProtocolError("bad_line", "no trailing ';': %r" % text[:80])
    parts = text[:-1].split(";")
    if len(parts) < 3 or parts[0] != "20":
        raise ProtocolError("bad_line", repr(text[:80]))
    try:
        counter = int(parts[1], 16)
    except ValueError:
        raise ProtocolError("bad_line", "counter %r" % parts[1]) from None
    name = parts[2]
    if name in _NOT_PACKETS or name.startswith("Nodo RadioFrequencyLink") or len(parts) == 3:
        raise ProtocolError("not_packet", name)
    if not _PROTO.fullmatch(name):
        raise ProtocolError("bad_line", "protocol %r" % name)
    fields: dict[str, str] = {}
    for item in parts[3:]:
        if not _FIELD.fullmatch(item):
            raise ProtocolError("bad_line", "field %r" % item)
        key, _, value = item.partition("=")
        fields[key] = value
    return RflinkPacket(counter, name, fields)
