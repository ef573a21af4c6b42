# What the LED says about the last alarm, so the villager knows help was called and that
# someone took it: fast blink = calling, slow blink = the station has it, double blink = the
# duty room has it, steady = a person accepted it, short flash every 2 s = rejected.
from time import ticks_diff

from micropython import const

_SHOW_MS = const(600000)

OFF = const(0)
CALLING = const(1)
STORED = const(2)
DELIVERED = const(3)
ACCEPTED = const(4)
FAILED = const(5)
IDENTIFY = const(6)

LEVEL_STATE = {"stored": STORED, "delivered": DELIVERED, "accepted": ACCEPTED}


def pattern_level(state, elapsed_ms):
    # Pin level (1 = lit) of pattern `state`, `elapsed_ms` after the pattern started.
    if state == CALLING or state == IDENTIFY:
        return 1 if (elapsed_ms // 100) % 2 == 0 else 0
    if state == STORED:
        return 1 if (elapsed_ms // 500) % 2 == 0 else 0
    if state == DELIVERED:
        phase = elapsed_ms % 2000
        return 1 if phase < 150 or 300 <= phase < 450 else 0
    if state == ACCEPTED:
        return 1
    if state == FAILED:
        return 1 if elapsed_ms % 2000 < 60 else 0
    return 0


class Led:
    def __init__(self, show_ms=_SHOW_MS):
        self.show_ms = show_ms
        self.state = OFF
        self._since = 0
        self._until = 0

    def set(self, state, now_ms, for_ms=None):
        self.state = state
        self._since = now_ms
        self._until = for_ms if for_ms is not None else self.show_ms

    def level(self, now_ms):
        if self.state == OFF:
            return 0
        elapsed = ticks_diff(now_ms, self._since)
        if elapsed >= self._until:
            self.state = OFF
            return 0
        return pattern_level(self.state, elapsed)
