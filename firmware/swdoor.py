# Door sensor logic: a reed contact held closed by a magnet on the door. With the pin pulled
# up, a closed door pulls it low; `open_level` says which level means open for other wiring.
from micropython import const
from swdebounce import Debouncer

_DEBOUNCE_MS = const(100)


class DoorSensor:
    def __init__(self, debounce_ms=_DEBOUNCE_MS, open_level=1):
        self.open_level = open_level
        self._deb = Debouncer(debounce_ms)

    def is_open(self):
        if self._deb.level is None:
            return None
        return self._deb.level == self.open_level

    def update(self, now_ms, level):
        # The state found at boot is reported in heartbeats, not as an edge: a reboot must not
        # look like someone opening the door.
        if self._deb.update(now_ms, level):
            return ["door_open" if self.is_open() else "door_close"]
        return []

    def status(self):
        state = self.is_open()
        if state is None:
            return []
        return [("door", "open" if state else "closed")]
