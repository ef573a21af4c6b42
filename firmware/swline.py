# Serial line codec of the nodes. It must produce and accept exactly the bytes the gateway's
# codec does (protocol/serial_line.py), including the reason given for a bad line, so both are
# run against the same vectors. No `re`: MicroPython's has no counted repetition.
from micropython import const
from swcrc import crc16

MAX_LINE = const(160)
MAX_SEQ = 0xFFFFFFFF

KINDS = (
    "panic",
    "panic_cancel",
    "medical",
    "fire",
    "intrusion",
    "door_open",
    "door_close",
    "tamper",
    "tamper_restore",
    "low_battery",
    "battery_ok",
    "device_missing",
    "device_back",
    "heartbeat",
    "test",
)
LEVELS = ("stored", "delivered", "accepted")

_HEXDIGITS = "0123456789abcdef"
_DIGITS = "0123456789"
_KEY_HEAD = "abcdefghijklmnopqrstuvwxyz_"
_KEY_TAIL = _KEY_HEAD + _DIGITS
_TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
_CRC_CHARS = "0123456789ABCDEF"
_RF_PROTO = "abcdefghijklmnopqrstuvwxyz0123456789"


class LineError(ValueError):
    # `reason` is the same short token the gateway counts (bad_crc, bad_field, ...).
    def __init__(self, reason, detail=""):
        super().__init__(reason + ": " + detail if detail else reason)
        self.reason = reason
        self.detail = detail


def _only(text, allowed, lo, hi):
    if not lo <= len(text) <= hi:
        return False
    for ch in text:
        if ch not in allowed:
            return False
    return True


def is_node(text):
    return _only(text, _HEXDIGITS, 1, 16)


def is_hex(text):
    return _only(text, _HEXDIGITS, 1, 16)


def is_token(text):
    return _only(text, _TOKEN, 1, 32)


def is_key(text):
    return 1 <= len(text) <= 16 and text[0] in _KEY_HEAD and _only(text[1:], _KEY_TAIL, 0, 15)


def is_int(text):
    digits = text[1:] if text[:1] == "-" else text
    return _only(digits, _DIGITS, 1, 10)


def _fields(pairs):
    out = []
    for key, value in pairs:
        if not is_key(key):
            raise LineError("bad_field", "key %r" % (key,))
        # MicroPython's bool is not an int subclass; both codecs write a flag as 1 / 0.
        if value is True or value is False:
            text = "1" if value else "0"
        elif isinstance(value, int):
            text = str(value)
        else:
            text = value
        if not isinstance(text, str) or not (is_int(text) or is_token(text)):
            raise LineError("bad_field", "value %r" % (value,))
        if isinstance(value, str) and is_int(text):
            # A token of digits reads back as an integer: sent, it would not be what was meant.
            raise LineError("bad_field", "value %r reads as an integer" % (value,))
        out.append(key + "=" + text)
    return out


def frame(body):
    raw = body.encode()
    line = raw + b"*" + ("%04X" % crc16(raw)).encode() + b"\n"
    if len(line) > MAX_LINE:
        raise LineError("too_long", "%d bytes" % len(line))
    return line


def encode(mtype, node, seq, head, fields=()):
    # `fields` is a sequence of (key, value) pairs; order is kept, so a retransmission built
    # from the same event is byte-identical.
    if not is_node(node):
        raise LineError("bad_node_id", repr(node))
    if not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise LineError("bad_seq", repr(seq))
    parts = [mtype, node, str(seq)]
    if mtype == "EV":
        if head not in KINDS:
            raise LineError("unknown_kind", repr(head))
        parts.append(head)
        parts.extend(_fields(fields))
    elif mtype == "AK":
        if head not in LEVELS:
            raise LineError("bad_field", "ack level %r" % (head,))
        parts.append(head)
    elif mtype == "NK" or mtype == "CM":
        if not is_token(head):
            raise LineError("bad_field", "%r" % (head,))
        parts.append(head)
        if mtype == "CM":
            parts.extend(_fields(fields))
    elif mtype == "CR":
        parts.append("ok" if head else "err")
        parts.extend(_fields(fields))
    elif mtype == "RF":
        proto, code = head
        if not _only(proto, _RF_PROTO, 1, 16) or not is_hex(code):
            raise LineError("bad_field", "rf %r %r" % (proto, code))
        parts.append(proto)
        parts.append(code)
        parts.extend(_fields(fields))
    else:
        raise LineError("bad_frame", "type %r" % (mtype,))
    return frame(",".join(parts))


def event(node, seq, kind, fields=()):
    return encode("EV", node, seq, kind, fields)


def _parse_fields(items):
    out = []
    seen = []
    for item in items:
        i = item.find("=")
        if i < 0:
            raise LineError("bad_field", repr(item))
        key = item[:i]
        text = item[i + 1 :]
        if not is_key(key) or key in seen:
            raise LineError("bad_field", repr(item))
        seen.append(key)
        if is_int(text):
            out.append((key, int(text)))
        elif is_token(text):
            out.append((key, text))
        else:
            raise LineError("bad_field", repr(item))
    return out


def _strip_eol(line):
    end = len(line)
    while end and line[end - 1] in (10, 13):
        end -= 1
    return line[:end]


def unframe(line):
    # Returns the body text after checking length, CRC field and CRC.
    if len(line) > MAX_LINE:
        raise LineError("too_long", "%d bytes" % len(line))
    line = _strip_eol(line)
    star = -1
    for i in range(len(line) - 1, -1, -1):
        if line[i] == 42:
            star = i
            break
    if star < 0:
        raise LineError("bad_frame", "no CRC separator")
    body = line[:star]
    crc_raw = line[star + 1 :]
    for byte in line:
        if byte > 127:
            raise LineError("bad_frame", "not ASCII")
    crc_text = crc_raw.decode()
    if not _only(crc_text, _CRC_CHARS, 4, 4):
        raise LineError("bad_frame", "CRC field %r" % (crc_text,))
    if int(crc_text, 16) != crc16(body):
        raise LineError("bad_crc", "%s != %04X" % (crc_text, crc16(body)))
    return body.decode()


def decode(line):
    # Returns (type, node, seq, head, fields): head is the kind, level, reason, op, True/False
    # for CR, or (proto, code) for RF; fields is a list of (key, value) pairs.
    parts = unframe(line).split(",")
    if len(parts) < 4:
        raise LineError("bad_frame", "too few fields")
    mtype = parts[0]
    node = parts[1]
    seq_text = parts[2]
    head = parts[3]
    rest = parts[4:]
    if not is_node(node):
        raise LineError("bad_node_id", repr(node))
    if not _only(seq_text, _DIGITS, 1, 10) or int(seq_text) > MAX_SEQ:
        raise LineError("bad_seq", repr(seq_text))
    seq = int(seq_text)
    if mtype == "EV":
        if head not in KINDS:
            raise LineError("unknown_kind", repr(head))
        return (mtype, node, seq, head, _parse_fields(rest))
    if mtype == "AK" and not rest:
        if head not in LEVELS:
            raise LineError("bad_field", "ack level %r" % (head,))
        return (mtype, node, seq, head, [])
    if mtype == "NK" and not rest and is_token(head):
        return (mtype, node, seq, head, [])
    if mtype == "CM" and is_token(head):
        return (mtype, node, seq, head, _parse_fields(rest))
    if mtype == "CR" and head in ("ok", "err"):
        return (mtype, node, seq, head == "ok", _parse_fields(rest))
    if mtype == "RF" and _only(head, _RF_PROTO, 1, 16) and rest and is_hex(rest[0]):
        return (mtype, node, seq, (head, rest[0]), _parse_fields(rest[1:]))
    raise LineError("bad_frame", "type %r" % (mtype,))
