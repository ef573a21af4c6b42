# BTHome v2 adverts (service data UUID 0xFCD2), encrypted with AES-CCM as the spec says, so
# the gateway decodes our devices and Shelly BLU devices with one decoder.
import swaes
from micropython import const

UUID = const(0xFCD2)
PACKET_ID = const(0x00)
BATTERY = const(0x01)
OPENING = const(0x11)
TAMPER = const(0x2B)
BUTTON = const(0x3A)

PRESS = const(0x01)
DOUBLE_PRESS = const(0x02)
LONG_PRESS = const(0x04)

_VERSION2 = const(0x40)
_ENCRYPTED = const(0x01)
_TRIGGER = const(0x04)


def objects(packet_id, battery=None, opening=None, tamper=None, button=None):
    # Objects must appear in ascending id order (BTHome v2 rule).
    out = bytearray((PACKET_ID, packet_id & 0xFF))
    if battery is not None:
        out += bytes((BATTERY, battery))
    if opening is not None:
        out += bytes((OPENING, 1 if opening else 0))
    if tamper is not None:
        out += bytes((TAMPER, 1 if tamper else 0))
    if button is not None:
        out += bytes((BUTTON, button))
    return bytes(out)


def nonce(mac, info, counter):
    # mac: 6 bytes in the order the address is printed (A4:C1:... -> b"\xa4\xc1...").
    return bytes(mac) + bytes((UUID & 0xFF, UUID >> 8, info)) + _le32(counter)


def _le32(n):
    return bytes((n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF, (n >> 24) & 0xFF))


def service_data(objs, aes=None, mac=None, counter=0, trigger=True):
    info = _VERSION2 | (_TRIGGER if trigger else 0)
    if aes is None:
        return bytes((info,)) + objs
    info |= _ENCRYPTED
    cipher, mic = swaes.ccm_encrypt(aes, nonce(mac, info, counter), objs)
    return bytes((info,)) + cipher + _le32(counter) + mic


def advert(data, name=None):
    # Legacy advertising payload: flags, service data, and the name if it fits in 31 bytes.
    out = bytearray(b"\x02\x01\x06")
    out += bytes((len(data) + 3, 0x16, UUID & 0xFF, UUID >> 8)) + data
    if name:
        raw = name.encode()
        if len(out) + 2 + len(raw) <= 31:
            out += bytes((len(raw) + 1, 0x09)) + raw
    if len(out) > 31:
        raise ValueError("advert of %d bytes does not fit in 31" % len(out))
    return bytes(out)


def parse_service_data(adv):
    # The BTHome service data inside an advert built by `advert` (for tests and tools).
    i = 0
    while i + 1 < len(adv):
        size = adv[i]
        if size == 0:
            break
        if adv[i + 1] == 0x16 and adv[i + 2] == UUID & 0xFF and adv[i + 3] == UUID >> 8:
            return bytes(adv[i + 4:i + 1 + size])
        i += 1 + size
    return None
