"""CPython stand-in for MicroPython's ``bluetooth`` module: advertising only, which is all
the firmware uses. Adverts go to the board bound to the calling thread (real bytes; the
gateway side decodes them as it decodes what BlueZ hands it)."""

from __future__ import annotations

from hardware.shims.machine import _board


class BLE:
    def __init__(self) -> None:
        self._board = _board()
        self._active = False

    def active(self, state: bool | None = None) -> bool:
        if state is not None:
            self._active = bool(state)
        return self._active

    def config(self, name: str) -> tuple[int, bytes]:
        if name != "mac":
            raise ValueError("unsupported config %r" % name)
        return (0, self._board.ble_mac())

    def gap_advertise(
        self,
        interval_us: int | None,
        adv_data: bytes | None = None,
        resp_data: bytes | None = None,
        connectable: bool = True,
    ) -> None:
        if not self._active:
            raise OSError("BLE not active")
        self._board.ble_advertise(interval_us, None if interval_us is None else adv_data)
