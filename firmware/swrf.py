# 433 MHz OOK decoding for the RF bridge: EV1527 and PT2262 frames from pulse timings.
#
# Both chips share one air format: a sync (1 unit high, 31 units low) and 24 bits, each a
# high pulse then a low pulse, short-long (1:3) for 0 and long-short (3:1) for 1. A PT2262
# tristate symbol is two such bits (00 = "0", 11 = "1", 01 = "F"), so the 24 bits of either
# chip are decoded the same way and reported as one 24-bit code. The unit is not fixed (it
# follows the chip's oscillator resistor, 250-600 us), so bits are classified by the ratio of
# their own two pulses, not against a fixed timing.
#
# A superheterodyne receiver (RXB6) outputs noise when no transmitter is near, so a frame is
# believed only when `confirm` identical frames arrive in a row; transmitters repeat each frame
# 4-20 times, so this costs nothing for a real press.
from time import ticks_diff

from micropython import const

_BITS = const(24)
_MIN_UNIT_US = const(120)
_MAX_UNIT_US = const(1500)
_SYNC_MIN = const(20)  # sync low / sync high; nominal 31
_SYNC_MAX = const(45)
_RATIO_MIN = const(2)  # long / short within a bit; nominal 3
_RATIO_MAX = const(6)


class Decoder:
    def __init__(self, bits=_BITS, confirm=2):
        self.bits = bits
        self.confirm = confirm
        self.frames = 0  # frames decoded (before confirmation)
        self.aborted = 0  # frames cut short by a pulse that fits nowhere
        self._high = 0
        self._unit = 0
        self._code = 0
        self._count = -1  # -1: waiting for a sync
        self._last = None
        self._same = 0

    def _sync(self, high, low):
        if not _MIN_UNIT_US <= high <= _MAX_UNIT_US:
            return False
        return _SYNC_MIN * high <= low <= _SYNC_MAX * high

    def feed(self, level, us):
        # One pulse: `level` (1 = carrier on) lasted `us` microseconds. Returns a confirmed
        # code as an int, or None.
        if level:
            self._high = us
            return None
        high = self._high
        self._high = 0
        if us > _SYNC_MAX * _MAX_UNIT_US:
            # Longer than any sync: the air was quiet, so the next frame starts a new
            # transmission, even of the same code (the same sensor triggered again).
            self.gap()
            return None
        if self._sync(high, us):
            self._unit = high
            self._code = 0
            self._count = 0
            return None
        if self._count < 0 or high == 0:
            return None
        total = high + us
        unit = self._unit
        # A bit lasts 4 units; allow the clock to be off by a good margin either way.
        if not (2 * unit <= total <= 7 * unit):
            return self._abort()
        if us >= high:
            if us < _RATIO_MIN * high or us > _RATIO_MAX * high:
                return self._abort()
            bit = 0
        else:
            if high < _RATIO_MIN * us or high > _RATIO_MAX * us:
                return self._abort()
            bit = 1
        self._code = (self._code << 1) | bit
        self._count += 1
        if self._count < self.bits:
            return None
        code = self._code
        self._count = -1
        self.frames += 1
        if code == self._last:
            self._same += 1
        else:
            self._last = code
            self._same = 1
        if self._same == self.confirm:
            return code
        return None

    def _abort(self):
        self._count = -1
        self.aborted += 1
        self._last = None
        self._same = 0
        return None

    def gap(self):
        # Silence on the air (no edge for a long time): repeats of a frame are contiguous, so
        # what follows is a new transmission.
        self._last = None
        self._same = 0
        self._count = -1


def tristate(code, bits=_BITS):
    # PT2262 reading of a code: "0", "1", "F" per bit pair, or None when a pair is "10",
    # which no PT2262 sends (the code can only be from an EV1527).
    out = []
    for shift in range(bits - 2, -1, -2):
        pair = (code >> shift) & 3
        if pair == 2:
            return None
        out.append("0" if pair == 0 else ("1" if pair == 3 else "F"))
    return "".join(out)


class RepeatFilter:
    # One press is sent as a burst of frames and held buttons keep sending; report a code once
    # and then stay quiet while it keeps arriving, until it has been silent for `window_ms`.
    def __init__(self, window_ms=1000, size=16):
        self.window_ms = window_ms
        self.size = size
        self._seen = []  # [code, last_seen_ms]
        self.suppressed = 0

    def accept(self, code, now_ms):
        for entry in self._seen:
            if entry[0] == code:
                quiet = ticks_diff(now_ms, entry[1]) >= self.window_ms
                entry[1] = now_ms
                if not quiet:
                    self.suppressed += 1
                return quiet
        self._seen.append([code, now_ms])
        if len(self._seen) > self.size:
            self._seen.pop(0)
        return True


class PulseCapture:
    # Filled from a pin IRQ on both edges (keep it allocation-free: an IRQ handler on a
    # MicroPython port may not allocate), drained by the main loop.
    def __init__(self, size=512):
        self.size = size
        self.levels = bytearray(size)
        self.widths = [0] * size
        self.head = 0
        self.tail = 0
        self.overruns = 0
        self.last_us = None

    def edge(self, level_after, now_us, diff):
        # `diff` is time.ticks_diff; passed in so this module does not care which clock.
        if self.last_us is not None:
            nxt = (self.head + 1) % self.size
            if nxt == self.tail:
                self.overruns += 1
            else:
                self.levels[self.head] = 1 - level_after
                self.widths[self.head] = diff(now_us, self.last_us)
                self.head = nxt
        self.last_us = now_us

    def drain(self, decoder):
        codes = []
        while self.tail != self.head:
            code = decoder.feed(self.levels[self.tail], self.widths[self.tail])
            self.tail = (self.tail + 1) % self.size
            if code is not None:
                codes.append(code)
        return codes
