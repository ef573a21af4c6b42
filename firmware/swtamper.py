# Enclosure tamper switch: a microswitch held pressed by the closed lid (or the wall plate).
# Opening the box or pulling it off the wall releases it. Same debounce as a door contact.
from micropython import const
from swdebounce import Debouncer

_DEBOUNCE_MS = const(200)


class Tamper:
    def __init__(self, debounce_ms=_DEBOUNCE_MS, open_level=1):
        self.open_level = open_level
        self._deb = Debouncer(debounce_ms)

    def update(self, now_ms, level):
        if self._deb.update(now_ms, level):
            return ["tamper" if self._deb.level == self.open_level else "tamper_restore"]
        return []

    def status(self):
        if self._deb.level is None:
            return []
        # A box found open at boot is reported at once: someone may be at work on it.
        return [("tamper", 1 if self._deb.level == self.open_level else 0)]
