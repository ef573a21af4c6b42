# Test stand-in for `bluetooth` on MicroPython builds without a radio: advertising only,
# handed to the board bound through machine.bind, like the CPython shim.
import machine


class BLE:
    def __init__(self):
        self._board = machine._board
        self._active = False

    def active(self, state=None):
        if state is not None:
            self._active = bool(state)
        return self._active

    def config(self, name):
        return (0, self._board.ble_mac())

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self._board.ble_advertise(interval_us, None if interval_us is None else adv_data)
