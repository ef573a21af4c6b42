# Pin maps per board; a config file may override any entry. Inputs are wired to ground with
# the internal pull-up on, so a broken wire reads as "released" / "open", never as a press.
PINS = {
    # ESP32-C3 SuperMini: GPIO8 is the on-board LED (lit when low), GPIO9 the BOOT button.
    "esp32c3": {
        "input": 4,
        "led": 8,
        "led_active_low": 1,
        "buzzer": 7,
        "tamper": 5,
        "battery_adc": 3,
        "rf": 6,
        "uart": 1,
        "tx": 21,
        "rx": 20,
    },
    # Raspberry Pi Pico W: the on-board LED hangs off the radio chip and is named "LED".
    "picow": {
        "input": 15,
        "led": "LED",
        "led_active_low": 0,
        "buzzer": 14,
        "tamper": 13,
        "battery_adc": 28,
        "rf": 22,
        "uart": 0,
        "tx": 0,
        "rx": 1,
    },
}


def pins_for(cfg):
    pins = dict(PINS[cfg.get("board", "esp32c3")])  # type: ignore[call-overload]
    pins.update(cfg.get("pins", {}))
    return pins


# Cells per board: the ESP32-C3 needs 3.0 V or more, so it runs from 3 x AA through the board's
# regulator; the Pico W's buck-boost runs down to 1.8 V, so 2 x AA will do. (empty, full) mV.
BATTERY_MV = {"esp32c3": (3400, 4500), "picow": (2100, 3000)}
