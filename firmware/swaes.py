# AES-128 block encryption (forward only: CCM needs no decryption) and AES-CCM as BTHome v2
# uses it. Ports with `cryptolib` (ESP32, RP2040) get the C implementation; the pure version
# runs elsewhere (tests, the WebAssembly port) and gives the same bytes.
try:
    from cryptolib import aes as _native_aes
except ImportError:
    _native_aes = None  # type: ignore[assignment,misc]


def _sbox():
    # Built from the field arithmetic rather than pasted as a 256-entry table.
    box = bytearray(256)
    p = q = 1
    while True:
        p = p ^ ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5)) ^ ((q << 4) | (q >> 4))
        box[p] = (x ^ 0x63) & 0xFF
        if p == 1:
            break
    box[0] = 0x63
    return bytes(box)


_SBOX = _sbox()


def _xtime(a):
    a <<= 1
    return (a ^ 0x1B) & 0xFF if a & 0x100 else a


def expand_key(key):
    sbox = _SBOX
    w = bytearray(key)
    rcon = 1
    for i in range(4, 44):
        t = w[4 * i - 4:4 * i]
        if i % 4 == 0:
            t = bytearray((sbox[t[1]] ^ rcon, sbox[t[2]], sbox[t[3]], sbox[t[0]]))
            rcon = _xtime(rcon)
        for j in range(4):
            w.append(w[4 * i - 16 + j] ^ t[j])
    return bytes(w)


def encrypt_block_pure(round_keys, block):
    sbox = _SBOX
    s = bytearray(16)
    for i in range(16):
        s[i] = block[i] ^ round_keys[i]
    for rnd in range(1, 11):
        # SubBytes and ShiftRows together: state is column-major, row r shifts left by r.
        t = bytearray(16)
        for c in range(4):
            for r in range(4):
                t[4 * c + r] = sbox[s[4 * ((c + r) % 4) + r]]
        if rnd != 10:
            for c in range(4):
                a0, a1, a2, a3 = t[4 * c], t[4 * c + 1], t[4 * c + 2], t[4 * c + 3]
                x = a0 ^ a1 ^ a2 ^ a3
                t[4 * c] = a0 ^ x ^ _xtime(a0 ^ a1)
                t[4 * c + 1] = a1 ^ x ^ _xtime(a1 ^ a2)
                t[4 * c + 2] = a2 ^ x ^ _xtime(a2 ^ a3)
                t[4 * c + 3] = a3 ^ x ^ _xtime(a3 ^ a0)
        base = 16 * rnd
        for i in range(16):
            t[i] ^= round_keys[base + i]
        s = t
    return bytes(s)


class Aes:
    def __init__(self, key, native=True):
        if len(key) != 16:
            raise ValueError("AES-128 key must be 16 bytes")
        self._native = _native_aes(bytes(key), 1) if (native and _native_aes is not None) else None
        self._round_keys = None if self._native is not None else expand_key(key)

    def encrypt_block(self, block):
        if self._native is not None:
            return self._native.encrypt(bytes(block))
        return encrypt_block_pure(self._round_keys, block)


def _xor(a, b):
    # Index loop: MicroPython's zip() has no `strict`, and lengths differ on purpose here.
    return bytes(a[i] ^ b[i] for i in range(min(len(a), len(b))))


def ccm_encrypt(aes, nonce, plaintext, tag_len=4):
    # RFC 3610 with no associated data; a 13-byte nonce leaves a 2-byte length field.
    if len(nonce) != 13:
        raise ValueError("CCM nonce must be 13 bytes here")
    b0 = bytes([8 * ((tag_len - 2) // 2) + 1]) + nonce + bytes([len(plaintext) >> 8, len(plaintext) & 0xFF])
    x = aes.encrypt_block(b0)
    for i in range(0, len(plaintext), 16):
        chunk = plaintext[i:i + 16]
        chunk = chunk + bytes(16 - len(chunk))
        x = aes.encrypt_block(_xor(x, chunk))
    out = bytearray()
    counter = 1
    for i in range(0, len(plaintext), 16):
        a = bytes([1]) + nonce + bytes([counter >> 8, counter & 0xFF])
        out += _xor(plaintext[i:i + 16], aes.encrypt_block(a))
        counter += 1
    s0 = aes.encrypt_block(bytes([1]) + nonce + b"\x00\x00")
    return bytes(out), _xor(x[:tag_len], s0[:tag_len])
