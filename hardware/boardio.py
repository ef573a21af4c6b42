"""Pins, ADC and configuration shared by the real-time and the simulated virtual boards."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware import HardwareError
from hardware.shims import install

APPS = ("panic_button", "door_sensor", "rf_bridge")


def firmware_modules() -> Any:
    """Import the firmware (with the CPython shims) and return its ``swmain`` module."""
    install()
    import swmain  # type: ignore[import-not-found]

    return swmain


def mac_text(mac: bytes) -> str:
    return ":".join("%02X" % b for b in mac)


def firmware_config(
    app: str, node: str, state_dir: Path, heartbeat_s: float, config: dict[str, Any]
) -> dict[str, Any]:
    if app not in APPS:
        raise HardwareError("unknown app %r (expected one of %s)" % (app, ", ".join(APPS)))
    cfg: dict[str, Any] = {
        "app": app,
        "node": node,
        "board": "esp32c3",
        "heartbeat_ms": round(heartbeat_s * 1000),
        "state_prefix": str(Path(state_dir) / ("seq-" + node)),
    }
    cfg.update(config)
    return cfg


class PinBank:
    """Pin levels of one board, safe to set from a test thread while the firmware runs."""

    def __init__(self, cfg: dict[str, Any], battery: int) -> None:
        swmain = firmware_modules()
        import swbattery  # type: ignore[import-not-found]

        self._raw_for_percent = swbattery.raw_for_percent
        self._lock = threading.Lock()
        self.pins = swmain.swpins.pins_for(cfg)
        self._divider = int(cfg.get("battery_divider", 2))
        empty_mv, full_mv = swmain.swpins.BATTERY_MV[cfg.get("board", "esp32c3")]
        self._cell_mv = (int(cfg.get("battery_empty_mv", empty_mv)), int(cfg.get("battery_full_mv", full_mv)))
        self._levels: dict[int | str, int] = {}
        self.outputs: dict[int | str, int] = {}
        self.irqs: dict[int | str, Callable[[Any], None] | None] = {}
        # Pull-ups: a released button and a closed door (magnet on the reed) idle as below.
        self._levels[self.pins.get("input", -1)] = (
            1 if cfg["app"] == "panic_button" else 1 - int(cfg.get("open_level", 1))
        )
        self._open_level = int(cfg.get("open_level", 1))
        if self.pins.get("tamper") is not None:
            self._levels[self.pins["tamper"]] = 0  # lid closed: the switch pulls the pin low
        self.battery = battery
        # A locally administered address derived from the node id: stable per board.
        node_bytes = bytes.fromhex("%012x" % (int(cfg["node"], 16) & 0xFFFFFFFFFF))
        self.mac = bytes([0xC2]) + node_bytes[1:]

    @property
    def tamper_pin(self) -> int | str:
        pin: int | str = self.pins["tamper"]
        return pin

    @property
    def input_pin(self) -> int | str:
        pin: int | str = self.pins["input"]
        return pin

    def set_level(self, pin: int | str, level: int) -> None:
        with self._lock:
            self._levels[pin] = level

    def door_level(self, is_open: bool) -> int:
        return self._open_level if is_open else 1 - self._open_level

    # BoardIO, called by the firmware through the machine shim
    def pin_level(self, pin: int | str) -> int:
        with self._lock:
            return self._levels.get(pin, 1)

    def set_output(self, pin: int | str, level: int) -> None:
        with self._lock:
            self.outputs[pin] = level

    def adc_read_u16(self, pin: int | str) -> int:
        raw: int = self._raw_for_percent(self.battery, self._divider, 3300, *self._cell_mv)
        return raw

    def ble_mac(self) -> bytes:
        return self.mac

    def set_irq(self, pin: int | str, handler: Callable[[Any], None] | None) -> None:
        # Pulses reach the firmware's capture buffer directly (see rf_edges), so the handler
        # is only recorded, to show the firmware did register it.
        with self._lock:
            self.irqs[pin] = handler


class BankedIO(ABC):
    """What both boards give the firmware the same way: pins, ADC and IRQs from a PinBank,
    and a log of what the radio advertises. Each board says what time an advert carries."""

    def _init_io(self, bank: PinBank) -> None:
        self._bank = bank
        self._adv_lock = threading.Lock()
        self._adverts: list[tuple[float, bytes | None]] = []

    @abstractmethod
    def _advert_time(self) -> float: ...

    def pin_level(self, pin: int | str) -> int:
        return self._bank.pin_level(pin)

    def set_output(self, pin: int | str, level: int) -> None:
        self._bank.set_output(pin, level)

    def adc_read_u16(self, pin: int | str) -> int:
        return self._bank.adc_read_u16(pin)

    def set_irq(self, pin: int | str, handler: Any) -> None:
        self._bank.set_irq(pin, handler)

    @property
    def mac(self) -> str:
        """The board's Bluetooth address, ``C2:00:00:00:00:A3`` style (BLE transport)."""
        return mac_text(self._bank.mac)

    @property
    def adverts(self) -> list[tuple[float, bytes | None]]:
        """(time, advertising payload) each time the firmware changed what is on air; None
        means it stopped advertising. Time is board ms (sim) or time.monotonic() (real)."""
        with self._adv_lock:
            return list(self._adverts)

    def ble_mac(self) -> bytes:
        return self._bank.mac

    def ble_advertise(self, interval_us: int | None, adv_data: bytes | None) -> None:
        with self._adv_lock:
            self._adverts.append((self._advert_time(), adv_data))
