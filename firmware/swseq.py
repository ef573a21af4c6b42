# Per-node sequence numbers that never go back, even across reboots and power cuts, without
# writing flash for every event: the store reserves a block of numbers ahead and writes only
# the end of the block. After a reboot numbering resumes at that end, so at most one block is
# skipped, never reused (the gateway takes a reused (node, seq) for a retransmission).
# Two slot files are written in turn, each with its own CRC, so a power cut during a write
# leaves the other slot intact.
import os

from micropython import const
from swcrc import crc16

_BLOCK = const(64)


def _read_slot(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    parts = text.strip().split(" ")
    if len(parts) != 2:
        return None
    value, crc = parts
    if not value.isdigit() or len(crc) != 4:
        return None
    try:
        if int(crc, 16) != crc16(value.encode()):
            return None
    except ValueError:
        return None
    return int(value)


class SeqStore:
    def __init__(self, prefix, block=_BLOCK):
        # `prefix` is a path stem; the slots are prefix + ".a" and prefix + ".b".
        self.block = block
        self._paths = (prefix + ".a", prefix + ".b")
        found = [v for v in (_read_slot(p) for p in self._paths) if v is not None]
        self._next = max(found) if found else 1
        self._limit = self._next
        self._slot = 0
        if found:
            # Write next into the slot holding the older value.
            a = _read_slot(self._paths[0])
            b = _read_slot(self._paths[1])
            self._slot = 0 if (a is None or (b is not None and a <= b)) else 1
        self.writes = 0
        self.write_errors = 0

    def peek(self):
        return self._next

    def next(self):
        if self._next >= self._limit:
            self._reserve(self._next + self.block)
        seq = self._next
        self._next += 1
        return seq

    def _reserve(self, limit):
        # A flash that refuses the write must not stop the alarm that asked for a number:
        # numbering goes on in RAM (still monotonic in this boot) and the next block retries.
        try:
            self._write(limit)
        except OSError:
            self.write_errors += 1
        self._slot ^= 1
        self._limit = limit

    def _write(self, limit):
        text = str(limit)
        path = self._paths[self._slot]
        with open(path, "w") as f:
            f.write("%s %04X\n" % (text, crc16(text.encode())))
            # MicroPython has no fsync: closing a littlefs file commits it. CPython (the
            # virtual board) needs the explicit fsync for the same guarantee.
            if hasattr(os, "fsync"):
                f.flush()
                os.fsync(f.fileno())
        self.writes += 1
