"""SIA DC-09 frames: alarm panels reporting over IP. Pure, no I/O.

A frame on the wire (TCP stream or one UDP datagram) is

    <LF> CRC LEN "ID" SEQ [R<rcvr>] L<line> [#<acct>] [ <data> ] [<x-data>]... [_HH:MM:SS,MM-DD-YYYY] <CR>

``CRC`` is CRC-16/ARC over everything from the opening quote to the end (4 hex digits), ``LEN``
the length of that part (``0LLL``, hex). ``ID`` is the message type: ``SIA-DCS`` (SIA codes),
``ADM-CID`` (Contact ID), ``NULL`` (link test), and in answers ``ACK``, ``NAK``, ``DUH``. A
``*`` before the type means AES-CBC (zero IV, key of 16, 24 or 32 bytes): everything after the
``[`` is then hex of ``<pad>|<data>][<x-data>]_<timestamp>``. The timestamp is UTC.

``read_frame`` checks the frame (CRC, header), ``open_message`` decrypts and parses it,
``check_time`` applies the receiver's timestamp window, and ``ack``/``nak``/``duh`` build the
answers. Every refusal is a ``ProtocolError`` whose ``reason`` says which answer it deserves
(``ANSWER``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from protocol.contact_id import CodeMeaning, contact_id_meaning, sia_meaning
from protocol.errors import ProtocolError

LF = 0x0A
CR = 0x0D
MAX_FRAME = 1024  # bytes between LF and CR; DC-09 messages are far shorter
EVENT_TYPES = ("SIA-DCS", "ADM-CID")
NULL = "NULL"
KEY_SIZES = (16, 24, 32)
# Receiver's window for a message timestamp, per the standard: 40 s late, 20 s early.
WINDOW_PAST = timedelta(seconds=40)
WINDOW_FUTURE = timedelta(seconds=20)

# What a refusal earns: NAK (integrity, account, key, time: the panel may correct and retry)
# or DUH (understood as a frame, but not as a message we can act on: do not retry).
ANSWER: dict[str, str] = {
    "bad_frame": "NAK",
    "bad_crc": "NAK",
    "unknown_account": "NAK",
    "no_key": "NAK",
    "not_encrypted": "NAK",
    "bad_key": "NAK",
    "no_timestamp": "NAK",
    "bad_timestamp": "NAK",
    "stale_timestamp": "NAK",
    "replayed": "NAK",
    "unknown_type": "DUH",
    "bad_data": "DUH",
}

_HEADER = re.compile(
    r'"(?P<enc>\*?)(?P<type>[A-Z0-9-]{2,12})"'
    r"(?P<seq>[0-9]{4})"
    r"(?:R(?P<receiver>[0-9A-Fa-f]{1,6}))?"
    r"L(?P<line>[0-9A-Fa-f]{1,6})"
    r"(?:#(?P<account>[0-9A-Fa-f]{3,16}))?"
    r"\[(?P<rest>.*)",
    re.DOTALL,
)
_XDATA = re.compile(r"\[(?P<id>[A-Z])(?P<value>[ -Z\\^-~]*)\]")  # printable, no '[' or ']'
_TIMESTAMP = re.compile(r"_(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{32})+")
_ACCOUNT_PREFIX = re.compile(r"#(?P<account>[0-9A-Fa-f]{3,16})\|?")
_CID = re.compile(r"(?P<q>[136])(?P<code>\d{3}) (?P<group>[0-9A-Fa-f]{2}) (?P<zone>[0-9A-Fa-f]{3})")
_SIA_TOKEN = re.compile(
    r"(?:ti(?P<ti>\d{1,2}:\d{2}))?"
    r"(?:id(?P<id>\d+))?"
    r"(?:ri(?P<ri>\d+))?"
    r"(?:pi(?P<pi>\d+))?"
    r"(?:(?P<code>[A-Z]{2})(?P<addr>[0-9]*)(?P<text>\^[^^]*\^|[ -.0-~]*))?"
)
# Pad characters of an encrypted block: printable, never '|', '[' or ']'.
PAD_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "|[]")


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected = 0xA001, init 0, no xor-out). ``b"123456789"`` -> 0xBB3D."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame whose CRC and header are right; the content is not yet opened."""

    type: str  # SIA-DCS, ADM-CID, NULL, ... (without the '*')
    encrypted: bool
    seq: str  # four digits, echoed in the answer
    receiver: str | None  # hex digits after 'R', as sent
    line: str  # hex digits after 'L', as sent
    account: str | None  # upper-case hex, from the header
    rest: str  # everything after the first '[' (hex when encrypted)
    length_ok: bool  # the LEN field matched (many panels get it wrong; the CRC decides)
    body: str  # from the opening quote to the end, as received

    @property
    def prefix(self) -> str:
        """``R<rcvr>L<line>`` as the answer repeats it."""
        return ("R" + self.receiver if self.receiver is not None else "") + "L" + self.line


@dataclass(frozen=True, slots=True)
class PanelEvent:
    code: str  # SIA code ("BA") or Contact ID qualifier and event ("1130", "3401")
    meaning: CodeMeaning
    zone: str | None  # zone, or user number for openings and closings
    area: str | None  # partition (Contact ID group, SIA "ri")
    text: str | None = None  # free text some panels add (SIA "^...^")


@dataclass(frozen=True, slots=True)
class Message:
    frame: Frame
    account: str
    data: str  # the data block between '[' and ']', decrypted
    xdata: tuple[tuple[str, str], ...]
    timestamp: datetime | None
    events: tuple[PanelEvent, ...]  # empty for NULL (link test)

    @property
    def is_link_test(self) -> bool:
        """NULL messages, and event messages without an event, only say the link is up."""
        return not self.events


def _ascii(raw: bytes) -> str:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("bad_frame", "not ASCII") from None
    if any(not 0x20 <= ord(c) < 0x7F for c in text):
        raise ProtocolError("bad_frame", "control characters inside the frame")
    return text


def read_frame(raw: bytes) -> Frame:
    """Check one frame (with or without its LF and CR). Raises ``ProtocolError``:
    ``bad_frame`` (not DC-09 framing or header), ``bad_crc``."""
    if raw[:1] == bytes([LF]):
        raw = raw[1:]
    if raw[-1:] == bytes([CR]):
        raw = raw[:-1]
    if len(raw) > MAX_FRAME:
        raise ProtocolError("bad_frame", "%d bytes" % len(raw))
    text = _ascii(raw)
    if len(text) < 10 or text[8] != '"':
        raise ProtocolError("bad_frame", "no CRC and length before the message: %r" % text[:40])
    crc_text, length_text, body = text[:4], text[4:8], text[8:]
    try:
        crc = int(crc_text, 16)
    except ValueError:
        raise ProtocolError("bad_frame", "CRC %r is not hex" % crc_text) from None
    if crc != crc16_arc(body.encode("ascii")):
        raise ProtocolError("bad_crc", "sent %s, computed %04X" % (crc_text, crc16_arc(body.encode("ascii"))))
    length_ok = length_text in ("%04X" % len(body), "%04d" % len(body))
    header = _HEADER.fullmatch(body)
    if header is None:
        raise ProtocolError("bad_frame", "header of %r" % body[:60])
    account = header["account"]
    return Frame(
        type=header["type"],
        encrypted=header["enc"] == "*",
        seq=header["seq"],
        receiver=header["receiver"],
        line=header["line"],
        account=account.upper() if account else None,
        rest=header["rest"],
        length_ok=length_ok,
        body=body,
    )


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    if len(key) not in KEY_SIZES:
        raise ProtocolError("bad_key", "AES keys are 16, 24 or 32 bytes, not %d" % len(key))
    return Cipher(algorithms.AES(key), modes.CBC(bytes(16)))


def decrypt_block(hex_text: str, key: bytes) -> str:
    """Hex of an encrypted block -> its text with the pad removed (from the ``|``, or from the
    ``]`` when the block carries no data). ``bad_key`` when the result is not a DC-09 block."""
    if not _HEX.fullmatch(hex_text):
        raise ProtocolError("bad_frame", "encrypted block is not whole AES blocks of hex")
    decryptor = _cipher(key).decryptor()
    plain = decryptor.update(bytes.fromhex(hex_text)) + decryptor.finalize()
    try:
        text = plain.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("bad_key", "decrypted block is not ASCII") from None
    close = text.find("]")
    if close < 0 or any(not 0x20 <= ord(c) < 0x7F for c in text):
        raise ProtocolError("bad_key", "decrypted block is not a DC-09 block")
    bar = text.find("|")
    return text[bar + 1 :] if 0 <= bar < close else text[close:]


def encrypt_block(text: str, key: bytes, pad: Callable[[int], str] | None = None) -> str:
    """``text`` (``<data>][x-data]_<timestamp>``) padded at the front to whole AES blocks with
    1..16 pad characters, encrypted, as upper-case hex. ``pad(n)`` gives the pad (random by
    default; tests pass their own)."""
    count = 16 - len(text) % 16
    filler = pad(count) if pad is not None else "".join(secrets.choice(PAD_CHARS) for _ in range(count))
    if len(filler) != count or any(c not in PAD_CHARS for c in filler):
        raise ProtocolError("bad_pad", "pad must be %d characters without '|', '[' or ']'" % count)
    encryptor = _cipher(key).encryptor()
    data = (filler + text).encode("ascii")
    return (encryptor.update(data) + encryptor.finalize()).hex().upper()


def _parse_timestamp(text: str) -> datetime:
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        raise ProtocolError("bad_timestamp", repr(text))
    hh, mi, ss, mo, dd, yyyy = (int(g) for g in m.groups())
    try:
        return datetime(yyyy, mo, dd, hh, mi, ss, tzinfo=UTC)
    except ValueError:
        raise ProtocolError("bad_timestamp", repr(text)) from None


def format_timestamp(at: datetime) -> str:
    """``_HH:MM:SS,MM-DD-YYYY`` in UTC."""
    return at.astimezone(UTC).strftime("_%H:%M:%S,%m-%d-%Y")


def _split_block(block: str) -> tuple[str, tuple[tuple[str, str], ...], datetime | None]:
    """``<data>][X..][Y..]_<ts>`` -> data, x-data, timestamp."""
    close = block.find("]")
    if close < 0:
        raise ProtocolError("bad_data", "data block is not closed")
    data, rest = block[:close], block[close + 1 :]
    if "[" in data:
        raise ProtocolError("bad_data", "'[' inside the data block")
    xdata: list[tuple[str, str]] = []
    pos = 0
    while pos < len(rest) and rest[pos] == "[":
        m = _XDATA.match(rest, pos)
        if m is None:
            raise ProtocolError("bad_data", "extended data %r" % rest[pos : pos + 40])
        xdata.append((m["id"], m["value"]))
        pos = m.end()
    tail = rest[pos:]
    timestamp = _parse_timestamp(tail) if tail else None
    return data, tuple(xdata), timestamp


def _strip_account(data: str) -> tuple[str | None, str]:
    m = _ACCOUNT_PREFIX.match(data)
    if m is not None:
        return m["account"].upper(), data[m.end() :]
    return None, data[1:] if data.startswith("|") else data


def parse_sia_data(data: str) -> tuple[PanelEvent, ...]:
    """SIA DCS data (``Nri1/BA501``, ``Nri1CL0^TEXT^``, ``Nid12/ri2/OP001/BA005|Afront door``)
    -> events. Blocks are separated by ``|``: ``N`` (or ``O``, old) blocks carry events, an
    ``A`` block text for the event before it. Modifiers (``ti``, ``id``, ``ri``, ``pi``) apply
    to the events after them. Empty data is no event (a link test)."""
    area: str | None = None
    user: str | None = None
    events: list[PanelEvent] = []
    for block in data.split("|") if data else []:
        kind, body = block[:1], block[1:]
        if kind == "A":
            if not events:
                raise ProtocolError("bad_data", "SIA text block before any event: %r" % block)
            last = events.pop()
            events.append(PanelEvent(last.code, last.meaning, last.zone, last.area, body.strip() or None))
            continue
        if kind not in ("N", "O"):
            raise ProtocolError("bad_data", "SIA block %r" % block)
        for token in body.split("/"):
            m = _SIA_TOKEN.fullmatch(token)
            if m is None or not token:
                raise ProtocolError("bad_data", "SIA block %r" % token)
            if m["ri"] is not None:
                area = m["ri"]
            if m["id"] is not None:
                user = m["id"]
            code = m["code"]
            if code is None:
                continue
            text = m["text"].strip("^ ") or None
            zone = m["addr"] or user
            events.append(PanelEvent(code, sia_meaning(code), zone or None, area, text))
    return tuple(events)


def parse_cid_data(data: str) -> PanelEvent | None:
    """Contact ID data ``3401 01 057`` -> one event (qualifier, event, group, zone or user);
    None for empty data (a link test)."""
    if not data:
        return None
    m = _CID.fullmatch(data)
    if m is None:
        raise ProtocolError("bad_data", "Contact ID block %r" % data)
    meaning = contact_id_meaning(int(m["q"]), int(m["code"]))
    return PanelEvent(m["q"] + m["code"], meaning, m["zone"].upper(), m["group"].upper())


def open_message(frame: Frame, key: bytes | None) -> Message:
    """Decrypt (when the frame says so) and parse. ``key`` is the account's AES key, None when
    the account has none. Raises ``ProtocolError``: ``no_key`` (encrypted, no key here),
    ``not_encrypted`` (the account has a key but the frame is plain: never accepted, or the
    encryption could be bypassed), ``bad_key``, ``no_timestamp`` (encrypted without one),
    ``bad_timestamp``, ``unknown_type``, ``bad_data``."""
    if frame.type not in (*EVENT_TYPES, NULL):
        raise ProtocolError("unknown_type", frame.type)
    if frame.encrypted:
        if key is None:
            raise ProtocolError("no_key", "encrypted frame for an account without a key")
        block = decrypt_block(frame.rest, key)
    else:
        if key is not None:
            raise ProtocolError("not_encrypted", "account %s must encrypt" % frame.account)
        block = frame.rest
    data, xdata, timestamp = _split_block(block)
    if frame.encrypted and timestamp is None:
        raise ProtocolError("no_timestamp", "encrypted frames carry a timestamp")
    inner_account, content = _strip_account(data)
    account = frame.account or inner_account
    if account is None:
        raise ProtocolError("bad_frame", "no account in the header or the data")
    events: tuple[PanelEvent, ...] = ()
    if frame.type == "SIA-DCS":
        events = parse_sia_data(content)
    elif frame.type == "ADM-CID":
        event = parse_cid_data(content)
        events = (event,) if event is not None else ()
    elif content:
        raise ProtocolError("bad_data", "NULL message with data %r" % content)
    return Message(frame, account, data, xdata, timestamp, events)


def check_time(
    message: Message,
    now: datetime,
    past: timedelta = WINDOW_PAST,
    future: timedelta = WINDOW_FUTURE,
) -> None:
    """``stale_timestamp`` when the message's timestamp lies outside ``now - past ..
    now + future``. Messages without a timestamp (allowed only in plain text) pass."""
    if message.timestamp is None:
        return
    if not now - past <= message.timestamp <= now + future:
        raise ProtocolError(
            "stale_timestamp",
            "message time %s, receiver time %s" % (message.timestamp.isoformat(), now.isoformat()),
        )


def encode_frame(body: str) -> bytes:
    """``"ACK"0001L0#1234[]`` -> ``<LF>CRC LEN "ACK"0001L0#1234[]<CR>``."""
    raw = body.encode("ascii")
    return b"\n" + ("%04X%04X" % (crc16_arc(raw), len(raw))).encode("ascii") + raw + b"\r"


def encode_message(
    type_: str,
    seq: int,
    account: str,
    data: str,
    *,
    line: str = "0",
    receiver: str | None = None,
    xdata: tuple[tuple[str, str], ...] = (),
    timestamp: datetime | None = None,
    key: bytes | None = None,
    pad: Callable[[int], str] | None = None,
) -> bytes:
    """A panel's frame, as a panel (or a test's stand-in for one) sends it:
    ``encode_message("ADM-CID", 7, "1234", "1130 01 015")``. Encrypted when ``key`` is given
    (a timestamp is then required)."""
    if not 0 <= seq <= 9999:
        raise ProtocolError("bad_seq", "DC-09 sequence numbers are 0000-9999, not %d" % seq)
    if key is not None and timestamp is None:
        raise ProtocolError("no_timestamp", "encrypted frames carry a timestamp")
    block = "#%s|%s]" % (account, data) if data else "]"
    block += "".join("[%s%s]" % item for item in xdata)
    block += format_timestamp(timestamp) if timestamp is not None else ""
    route = ("R" + receiver if receiver else "") + "L" + line
    head = '"%s%s"%04d%s#%s[' % ("*" if key else "", type_, seq, route, account)
    if key is not None:
        return encode_frame(head + encrypt_block("|" + block if data else block, key, pad))
    return encode_frame(head + block)


def ack(
    message: Message, now: datetime, key: bytes | None = None, pad: Callable[[int], str] | None = None
) -> bytes:
    """The positive answer: same sequence, receiver, line and account, empty data. An
    encrypted frame is answered encrypted, with the receiver's timestamp inside."""
    frame = message.frame
    head = "%s%s#%s[" % (frame.seq, frame.prefix, message.account)
    if frame.encrypted and key is not None:
        return encode_frame('"*ACK"' + head + encrypt_block("]" + format_timestamp(now), key, pad))
    return encode_frame('"ACK"' + head + "]")


def nak(now: datetime, frame: Frame | None = None) -> bytes:
    """The negative answer: sequence 0000, account ``A0``, never encrypted, always with the
    receiver's time so that a panel with a wrong clock can correct it before it retries."""
    route = "R%sL%s" % (frame.receiver or "0", frame.line) if frame is not None else "R0L0"
    return encode_frame('"NAK"0000%sA0[]%s' % (route, format_timestamp(now)))


def duh(frame: Frame) -> bytes:
    """"Not understood": the message was received intact but cannot be acted on."""
    account = "#" + frame.account if frame.account else ""
    return encode_frame('"DUH"%s%s%s[]' % (frame.seq, frame.prefix, account))


class FrameSplitter:
    """Cuts a TCP byte stream into frames: from an LF to the next CR. Bytes outside frames
    are dropped and counted; an over-long frame is dropped whole."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._inside = False
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        for byte in data:
            if byte == LF:
                if self._inside and self._buf:
                    self.dropped += len(self._buf)
                self._buf.clear()
                self._inside = True
            elif not self._inside:
                self.dropped += 1
            elif byte == CR:
                frames.append(bytes(self._buf))
                self._buf.clear()
                self._inside = False
            elif len(self._buf) >= MAX_FRAME:
                self.dropped += len(self._buf) + 1
                self._buf.clear()
                self._inside = False
            else:
                self._buf.append(byte)
        return frames


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a receiver makes of one frame before it stores anything. ``message`` is set when
    the frame is acceptable (answer with ``ack`` once it is stored); otherwise ``reason`` says
    why not and ``answer`` is the NAK or DUH to send."""

    message: Message | None
    key: bytes | None = None
    reason: str | None = None
    detail: str = ""
    answer: bytes | None = None


def judge(
    raw: bytes,
    key_for: Callable[[str], bytes | None],
    now: datetime,
    past: timedelta = WINDOW_PAST,
    future: timedelta = WINDOW_FUTURE,
) -> Verdict:
    """Check one frame: framing and CRC, account (``key_for(account)`` gives the account's AES
    key or None, and raises ``ProtocolError("unknown_account")`` for an account it does not
    know), key, content and timestamp window."""
    frame: Frame | None = None
    try:
        frame = read_frame(raw)
        account = frame.account
        if account is None and not frame.encrypted:
            account = open_message(frame, None).account
        if account is None:
            raise ProtocolError("bad_frame", "encrypted frame without an account in its header")
        key = key_for(account)
        message = open_message(frame, key)
        check_time(message, now, past, future)
    except ProtocolError as exc:
        answer_type = ANSWER.get(exc.reason, "NAK")
        if answer_type == "DUH" and frame is not None:
            answer = duh(frame)
        else:
            answer = nak(now, frame)
        return Verdict(None, None, exc.reason, exc.detail, answer)
    return Verdict(message, key)
