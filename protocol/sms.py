"""SMS encoding for GSM modems (3GPP TS 23.038 / 23.040, 27.005): pure, table-driven, no I/O.

What the modem driver needs and nothing more: choose the alphabet (GSM 7-bit when every
character fits, UCS-2 otherwise, which Chinese always needs), split a long text into
concatenated parts without cutting an escape pair or a surrogate pair, truncate with a visible
mark past a part limit, build SMS-SUBMIT PDUs (and read them back, for tests and the modem
stand-in), the UCS-2 hex of text mode, and the modem's final result lines with their error
codes mapped to short reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from protocol.errors import ProtocolError

# GSM 03.38 default alphabet: the character at index n has septet value n.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
ESCAPE = 0x1B
# Extension table: reached with ESCAPE first, so each of these costs two septets.
GSM_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E,
                 "|": 0x40, "€": 0x65}  # fmt: skip
_BASIC_INDEX = {ch: i for i, ch in enumerate(GSM_BASIC) if i != ESCAPE}
_EXTENSION_CHAR = {v: k for k, v in GSM_EXTENSION.items()}

# Payload of one SMS: 140 octets. With the 6-octet concatenation header, less per part.
SINGLE_SEPTETS = 160
PART_SEPTETS = 153
SINGLE_UNITS = 70  # UTF-16 code units
PART_UNITS = 67
MAX_PARTS = 255
TRUNCATION_MARK = {"gsm7": "...", "ucs2": "…"}
NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


def is_gsm7(text: str) -> bool:
    return all(ch in _BASIC_INDEX or ch in GSM_EXTENSION for ch in text)


def encoding_for(text: str) -> Encoding:
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def check_number(number: str) -> str:
    """A phone number as modems take it: digits, optionally a leading ``+`` (international)."""
    if not NUMBER.match(number):
        raise ProtocolError("bad_number", "phone number must be digits with an optional +, got %r" % number)
    return number


# -- alphabets -------------------------------------------------------------------------------


def _char_cost(ch: str, encoding: Encoding) -> int:
    """Septets (GSM 7-bit) or UTF-16 code units (UCS-2) one character takes."""
    if encoding is Encoding.GSM7:
        return 2 if ch in GSM_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def length(text: str, encoding: Encoding) -> int:
    return sum(_char_cost(ch, encoding) for ch in text)


def to_septets(text: str) -> list[int]:
    out: list[int] = []
    for ch in text:
        if ch in _BASIC_INDEX:
            out.append(_BASIC_INDEX[ch])
        elif ch in GSM_EXTENSION:
            out.extend((ESCAPE, GSM_EXTENSION[ch]))
        else:
            raise ProtocolError("not_gsm7", "%r is not in the GSM 7-bit alphabet" % ch)
    return out


def from_septets(septets: list[int]) -> str:
    out: list[str] = []
    escaped = False
    for s in septets:
        if escaped:
            out.append(_EXTENSION_CHAR.get(s, GSM_BASIC[s] if s != ESCAPE else " "))
            escaped = False
        elif s == ESCAPE:
            escaped = True
        else:
            out.append(GSM_BASIC[s])
    return "".join(out)


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Septets packed into octets, least significant bit first, after ``fill_bits`` zero bits."""
    acc = 0
    nbits = fill_bits
    out = bytearray()
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits > 0:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    value = int.from_bytes(data, "little")
    return [(value >> (fill_bits + 7 * i)) & 0x7F for i in range(count)]


def ucs2_hex(text: str) -> str:
    """Text as the modem takes it with ``AT+CSCS="UCS2"``: UTF-16 big-endian, upper-case hex."""
    return text.encode("utf-16-be").hex().upper()


def from_ucs2_hex(value: str) -> str:
    try:
        return bytes.fromhex(value).decode("utf-16-be")
    except ValueError as exc:
        raise ProtocolError("bad_ucs2", str(exc)) from None


# -- splitting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    encoding: Encoding
    parts: tuple[str, ...]
    truncated: bool

    @property
    def concatenated(self) -> bool:
        return len(self.parts) > 1


def split(text: str, max_parts: int = 4) -> Split:
    """The parts one text is sent in. A character is never cut in half (neither a GSM escape
    pair nor a UTF-16 surrogate pair); past ``max_parts`` the text is cut at a word boundary
    near the end when there is one, and ends with a visible mark (``...`` or ``…``)."""
    if not 1 <= max_parts <= MAX_PARTS:
        raise ProtocolError("bad_parts", "max_parts must be 1..%d" % MAX_PARTS)
    encoding = encoding_for(text)
    single, per_part = (
        (SINGLE_SEPTETS, PART_SEPTETS) if encoding is Encoding.GSM7 else (SINGLE_UNITS, PART_UNITS)
    )
    if length(text, encoding) <= single:
        return Split(encoding, (text,), False)
    truncated = False
    budget = per_part * max_parts if max_parts > 1 else single
    if length(text, encoding) > budget:
        text = _truncate(text, encoding, budget)
        truncated = True
        if max_parts == 1:
            return Split(encoding, (text,), True)
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        cost = _char_cost(ch, encoding)
        if used + cost > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    if current:
        parts.append("".join(current))
    return Split(encoding, tuple(parts), truncated)


def _truncate(text: str, encoding: Encoding, budget: int) -> str:
    mark = TRUNCATION_MARK[encoding.value]
    room = budget - length(mark, encoding)
    kept: list[str] = []
    used = 0
    for ch in text:
        cost = _char_cost(ch, encoding)
        if used + cost > room:
            break
        kept.append(ch)
        used += cost
    cut = "".join(kept)
    # Prefer a word boundary when one is close, so a number or a link is not cut mid-way.
    space = cut.rfind(" ")
    if space >= len(cut) - 20 and space > 0:
        cut = cut[:space]
    return cut.rstrip() + mark


# -- PDU -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Concat:
    """Concatenation header (information element 0x00): reference, total parts, this part."""

    reference: int
    total: int
    sequence: int

    def udh(self) -> bytes:
        if not (0 <= self.reference <= 255 and 1 <= self.sequence <= self.total <= MAX_PARTS):
            raise ProtocolError("bad_concat", repr(self))
        return bytes((5, 0x00, 3, self.reference, self.total, self.sequence))


@dataclass(frozen=True)
class SubmitPdu:
    hex: str  # what follows AT+CMGS=<tpdu_length> and the prompt, before Ctrl-Z
    tpdu_length: int  # octets after the SMSC field, which AT+CMGS takes in PDU mode


@dataclass(frozen=True)
class DecodedSubmit:
    number: str
    text: str
    encoding: Encoding
    concat: Concat | None


def _address(number: str) -> bytes:
    check_number(number)
    digits = number.lstrip("+")
    kind = 0x91 if number.startswith("+") else 0x81
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes((len(digits), kind)) + bytes.fromhex(swapped)


def submit_pdu(number: str, text: str, encoding: Encoding, concat: Concat | None = None) -> SubmitPdu:
    """SMS-SUBMIT, SMSC from the SIM (``00``), no validity period, status report not asked."""
    udh = concat.udh() if concat is not None else b""
    first = 0x01 | (0x40 if udh else 0)
    head = (
        bytes((first, 0x00)) + _address(number) + bytes((0x00, 0x00 if encoding is Encoding.GSM7 else 0x08))
    )
    if encoding is Encoding.GSM7:
        septets = to_septets(text)
        header_bits = len(udh) * 8
        fill = (7 - header_bits % 7) % 7
        packed = pack_septets(septets, fill)
        user_data = udh + packed
        udl = (header_bits + fill) // 7 + len(septets)
        limit = SINGLE_SEPTETS
    else:
        body = text.encode("utf-16-be")
        user_data = udh + body
        udl = len(user_data)
        limit = SINGLE_UNITS * 2
    if udl > limit:
        raise ProtocolError("too_long", "%d exceeds one SMS (%d)" % (udl, limit))
    tpdu = head + bytes((udl,)) + user_data
    return SubmitPdu("00" + tpdu.hex().upper(), len(tpdu))


def submit_pdus(number: str, text: str, reference: int, max_parts: int = 4) -> tuple[Split, list[SubmitPdu]]:
    """All the PDUs of one text; ``reference`` ties the parts of a concatenated message."""
    parts = split(text, max_parts)
    if not parts.concatenated:
        return parts, [submit_pdu(number, parts.parts[0], parts.encoding)]
    total = len(parts.parts)
    return parts, [
        submit_pdu(number, part, parts.encoding, Concat(reference & 0xFF, total, i + 1))
        for i, part in enumerate(parts.parts)
    ]


def decode_submit_pdu(value: str) -> DecodedSubmit:
    """Read back an SMS-SUBMIT PDU as built above (with its SMSC field)."""
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise ProtocolError("bad_pdu", "not hex") from None
    try:
        pos = 1 + data[0]  # SMSC field
        first = data[pos]
        if first & 0x03 != 0x01:
            raise ProtocolError("bad_pdu", "not an SMS-SUBMIT")
        vpf = (first >> 3) & 0x03
        digits_len, kind = data[pos + 2], data[pos + 3]
        addr_octets = (digits_len + 1) // 2
        swapped = data[pos + 4 : pos + 4 + addr_octets].hex().upper()
        digits = "".join(swapped[i + 1] + swapped[i] for i in range(0, len(swapped), 2))[:digits_len]
        number = ("+" if kind == 0x91 else "") + digits
        pos += 4 + addr_octets
        dcs = data[pos + 1]
        pos += 2 + {0: 0, 2: 1, 1: 7, 3: 7}[vpf]
        udl = data[pos]
        user_data = data[pos + 1 :]
    except IndexError:
        raise ProtocolError("bad_pdu", "truncated") from None
    encoding = Encoding.UCS2 if dcs & 0x0C == 0x08 else Encoding.GSM7
    concat: Concat | None = None
    header_len = 0
    if first & 0x40:
        header_len = user_data[0] + 1
        ie = user_data[1:header_len]
        i = 0
        while i + 1 < len(ie):
            iei, size = ie[i], ie[i + 1]
            if iei == 0x00 and size == 3:
                concat = Concat(ie[i + 2], ie[i + 3], ie[i + 4])
            i += 2 + size
    if encoding is Encoding.GSM7:
        header_bits = header_len * 8
        fill = (7 - header_bits % 7) % 7
        skip = (header_bits + fill) // 7
        text = from_septets(unpack_septets(user_data, udl - skip, header_bits + fill))
    else:
        try:
            text = user_data[header_len:udl].decode("utf-16-be")
        except UnicodeDecodeError as exc:
            raise ProtocolError("bad_pdu", str(exc)) from None
    return DecodedSubmit(number, text, encoding, concat)


# -- modem answers ---------------------------------------------------------------------------


class Reason(StrEnum):
    """Why a modem did not send: the counter names of every failure."""

    NO_SIM = "no_sim"
    SIM_LOCKED = "sim_locked"  # PIN or PUK needed
    NO_NETWORK = "no_network"
    NO_SMSC = "no_smsc"
    REJECTED = "rejected"  # the network or the modem refused this message
    MODEM_ERROR = "modem_error"  # ERROR, or an error code we have no better word for
    TIMEOUT = "timeout"
    PORT = "port"  # the serial port is gone or cannot be opened
    BAD_NUMBER = "bad_number"


# +CMS ERROR codes (27.005 3.2.5 and 24.011 / 23.040 causes) and what they mean for us.
CMS_REASONS: dict[int, Reason] = {
    8: Reason.REJECTED,  # operator determined barring
    10: Reason.REJECTED,  # call barred
    21: Reason.REJECTED,  # short message transfer rejected
    27: Reason.REJECTED,  # destination out of service
    28: Reason.BAD_NUMBER,  # unidentified subscriber
    29: Reason.REJECTED,  # facility rejected
    30: Reason.BAD_NUMBER,  # unknown subscriber
    38: Reason.NO_NETWORK,  # network out of order
    41: Reason.NO_NETWORK,  # temporary failure
    42: Reason.NO_NETWORK,  # congestion
    47: Reason.NO_NETWORK,  # resources unavailable
    50: Reason.REJECTED,  # requested facility not subscribed
    96: Reason.REJECTED,  # invalid mandatory information
    300: Reason.MODEM_ERROR,  # ME failure
    302: Reason.MODEM_ERROR,  # operation not allowed
    303: Reason.MODEM_ERROR,  # operation not supported
    304: Reason.REJECTED,  # invalid PDU mode parameter
    305: Reason.REJECTED,  # invalid text mode parameter
    310: Reason.NO_SIM,  # SIM not inserted
    311: Reason.SIM_LOCKED,  # SIM PIN required
    312: Reason.SIM_LOCKED,  # PH-SIM PIN required
    313: Reason.NO_SIM,  # SIM failure
    316: Reason.SIM_LOCKED,  # SIM PUK required
    330: Reason.NO_SMSC,  # SMSC address unknown
    331: Reason.NO_NETWORK,  # no network service
    332: Reason.TIMEOUT,  # network timeout
    500: Reason.MODEM_ERROR,  # unknown error
}

# +CME ERROR codes (27.007 9.2) that matter before a message is sent.
CME_REASONS: dict[int, Reason] = {
    3: Reason.MODEM_ERROR,  # operation not allowed
    4: Reason.MODEM_ERROR,  # operation not supported
    5: Reason.SIM_LOCKED,  # PH-SIM PIN required
    10: Reason.NO_SIM,  # SIM not inserted
    11: Reason.SIM_LOCKED,  # SIM PIN required
    12: Reason.SIM_LOCKED,  # SIM PUK required
    13: Reason.NO_SIM,  # SIM failure
    14: Reason.NO_SIM,  # SIM busy
    15: Reason.NO_SIM,  # SIM wrong
    30: Reason.NO_NETWORK,  # no network service
    31: Reason.TIMEOUT,  # network timeout
    32: Reason.NO_NETWORK,  # network not allowed, emergency calls only
    100: Reason.MODEM_ERROR,  # unknown
}

# Verbose forms some modems answer with when AT+CMEE=2 was left on.
CME_TEXT: dict[str, int] = {
    "sim not inserted": 10,
    "sim pin required": 11,
    "sim puk required": 12,
    "sim failure": 13,
    "sim busy": 14,
    "no network service": 30,
    "network timeout": 31,
}


@dataclass(frozen=True)
class Final:
    """A final result line: ``OK``, or an error with its reason and code."""

    ok: bool
    reason: Reason | None = None
    code: int | None = None
    line: str = ""


FINAL_ERRORS = ("ERROR", "NO CARRIER", "COMMAND NOT SUPPORT", "TOO MANY PARAMETERS")


def parse_final(line: str) -> Final | None:
    """The result a command ends with, or None for an intermediate line (echo, ``+CMGS: 12``)."""
    text = line.strip()
    if text == "OK":
        return Final(True, line=text)
    for prefix, table in (("+CMS ERROR:", CMS_REASONS), ("+CME ERROR:", CME_REASONS)):
        if text.startswith(prefix):
            value = text[len(prefix) :].strip()
            if value.isdigit():
                code = int(value)
                return Final(False, table.get(code, Reason.MODEM_ERROR), code, text)
            code_from_text = CME_TEXT.get(value.lower())
            if code_from_text is not None:
                return Final(False, CME_REASONS[code_from_text], code_from_text, text)
            return Final(False, Reason.MODEM_ERROR, None, text)
    if text in FINAL_ERRORS:
        return Final(False, Reason.MODEM_ERROR, None, text)
    return None


@dataclass(frozen=True)
class Registration:
    stat: int

    @property
    def registered(self) -> bool:
        return self.stat in (1, 5)  # home network, roaming


def parse_registration(line: str) -> Registration | None:
    """``+CREG: 0,1`` / ``+CEREG: 2,5,"1A2B",...`` (the second number is the state)."""
    m = re.match(r"^\+C(?:E|G)?REG:\s*(\d+)\s*,\s*(\d+)", line.strip())
    if m is None:
        m2 = re.match(r"^\+C(?:E|G)?REG:\s*(\d+)\s*$", line.strip())
        return Registration(int(m2.group(1))) if m2 else None
    return Registration(int(m.group(2)))


def parse_cpin(line: str) -> Reason | None:
    """``+CPIN: READY`` is None (ready); anything else says what the SIM wants."""
    text = line.strip()
    if not text.startswith("+CPIN:"):
        raise ProtocolError("bad_answer", "not a +CPIN line: %r" % text)
    state = text[len("+CPIN:") :].strip().upper()
    if state == "READY":
        return None
    if state in ("NOT INSERTED", "NOT READY"):
        return Reason.NO_SIM
    return Reason.SIM_LOCKED


def parse_cmgs(line: str) -> int | None:
    m = re.match(r"^\+CMGS:\s*(\d+)", line.strip())
    return int(m.group(1)) if m else None
