# Panic button logic: pure, fed with (now_ms, pin level). A bump or a brush of the hand must
# not call for help, so only a press held for `long_ms` raises `panic`; it fires while the
# button is still held, so the LED answers before the finger lets go. Two short presses
# within `cancel_grace_ms` after a panic send `panic_cancel` (pressed by mistake); three
# short presses at other times send `test`.
from time import ticks_diff

from micropython import const
from swdebounce import Debouncer

_DEBOUNCE_MS = const(50)
_LONG_MS = const(1500)
_DOUBLE_MS = const(1000)
_CANCEL_GRACE_MS = const(30000)


class PanicButton:
    def __init__(
        self,
        debounce_ms=_DEBOUNCE_MS,
        long_ms=_LONG_MS,
        active_low=True,
        double_ms=_DOUBLE_MS,
        cancel_grace_ms=_CANCEL_GRACE_MS,
    ):
        self.long_ms = long_ms
        self.double_ms = double_ms
        self.cancel_grace_ms = cancel_grace_ms
        self._pressed_level = 0 if active_low else 1
        self._deb = Debouncer(debounce_ms)
        self._fired = False
        self._panic_at = None
        self._last_short = None
        self._shorts = 0

    def pressed(self):
        return self._deb.level == self._pressed_level

    def update(self, now_ms, level):
        # Returns a list of event kinds raised by this sample.
        out = []
        if self._deb.update(now_ms, level):
            if self.pressed():
                self._fired = False
            elif not self._fired:
                self._short_press(now_ms, out)
        # The finger must still be on the button: a release not yet confirmed by the debounce
        # does not count as holding.
        if self.pressed() and level == self._pressed_level and not self._fired:
            if ticks_diff(now_ms, self._deb.since) >= self.long_ms:
                self._fired = True
                self._panic_at = now_ms
                self._last_short = None
                out.append("panic")
        return out

    def _short_press(self, now_ms, out):
        # Short presses count in a run while each follows the last within `double_ms`.
        if self._last_short is not None and ticks_diff(now_ms, self._last_short) <= self.double_ms:
            self._shorts += 1
        else:
            self._shorts = 1
        self._last_short = now_ms
        in_grace = self._panic_at is not None and ticks_diff(now_ms, self._panic_at) <= self.cancel_grace_ms
        if in_grace and self._shorts == 2:
            self._panic_at = None
            self._shorts = 0
            self._last_short = None
            out.append("panic_cancel")
        elif not in_grace and self._shorts == 3:
            # The monthly test: three short presses go through the whole chain (LED and
            # buzzer show the acks) without opening a case.
            self._shorts = 0
            self._last_short = None
            out.append("test")

    def status(self):
        return []
