# Buzzer chirps for the ack levels, for villagers who cannot see the LED well: one short beep
# when the station has the alarm, two when the duty room has it, one long when a person
# accepted it. A pattern is a tuple of on/off durations in ms, starting with "on".
from time import ticks_diff

import swlog

PATTERNS = {
    "stored": (150,),
    "delivered": (150, 150, 150),
    "accepted": (1000,),
    "failed": (80, 80, 80, 80, 80, 80, 80),
    "identify": (100, 100, 100, 100, 100, 100, 100, 100, 100),
}


class Buzzer:
    def __init__(self):
        self._pattern = None
        self._start = 0
        self.played = []

    def play(self, name, now_ms):
        self._pattern = PATTERNS[name]
        self._start = now_ms
        swlog.remember(self.played, name)

    def level(self, now_ms):
        if self._pattern is None:
            return 0
        elapsed = ticks_diff(now_ms, self._start)
        on = 1
        for duration in self._pattern:
            if elapsed < duration:
                return on
            elapsed -= duration
            on ^= 1
        self._pattern = None
        return 0
