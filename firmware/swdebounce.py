# A contact is believed only after it has held one level for `stable_ms`: a reed switch
# chatters for a few ms and a loose wire for longer, and neither may become an event.
from time import ticks_diff


class Debouncer:
    def __init__(self, stable_ms, level=None):
        self.stable_ms = stable_ms
        self.level = level  # confirmed level, None until the first one is known
        self.since = None  # tick at which `level` really started
        self._raw = level
        self._raw_at = None

    def update(self, now_ms, raw):
        # Returns True when the confirmed level changed on this call. The first sample is
        # taken as the state found at boot: it is not an edge, and waiting to confirm it would
        # swallow a real change that comes right after boot.
        if self.level is None:
            self.level = raw
            self._raw = raw
            self._raw_at = now_ms
            self.since = now_ms
            return False
        if raw != self._raw:
            self._raw = raw
            self._raw_at = now_ms
        if raw == self.level:
            return False
        if ticks_diff(now_ms, self._raw_at) < self.stable_ms:
            return False
        self.level = raw
        # The change happened when the contact first moved, not when we trusted it; hold
        # times are measured from there so a 1.5 s long press means 1.5 s of the finger.
        self.since = self._raw_at
        return True
