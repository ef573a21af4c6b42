# Glue between the pure node logic and the board: machine.Pin / UART / ADC and the tick
# clock. Everything here is thin on purpose; the behaviour lives in swnode and the apps.
import time

import machine
import swapp
import swbattery
import swbuzz
import swled
import swline
import swpins
import swrf
import swtamper
from micropython import const
from swnode import Node
from swsend import Sender
from swseq import SeqStore

_POLL_MS = const(5)
_MAX_FAULTS = const(20)


class LineReader:
    # Splits UART bytes into lines. An over-long line is dropped up to its newline, so the
    # next good line is not lost with it.
    def __init__(self, limit=swline.MAX_LINE):
        self.limit = limit
        self._buf = b""
        self._skipping = False
        self.overflows = 0

    def feed(self, data):
        out = []
        buf = self._buf + data
        while True:
            i = buf.find(b"\n")
            if i < 0:
                break
            if not self._skipping:
                out.append(buf[: i + 1])
            self._skipping = False
            buf = buf[i + 1 :]
        if len(buf) > self.limit:
            self.overflows += 1
            self._skipping = True
            buf = b""
        self._buf = buf
        return out


class Runner:
    def __init__(self, node, input_pin, uart, led_pin=None, led_active_low=False, tamper_pin=None,
                 buzzer_pin=None):
        self.node = node
        self.input_pin = input_pin
        self.uart = uart
        self.led_pin = led_pin
        self.led_active_low = led_active_low
        self.tamper_pin = tamper_pin
        self.buzzer_pin = buzzer_pin
        self.reader = LineReader()

    def sample(self, now_ms):
        tamper = self.tamper_pin.value() if self.tamper_pin is not None else None
        self.node.sample(now_ms, self.input_pin.value(), tamper)

    def idle(self):
        # Nothing to send, nothing to show: the loop may sleep lightly between samples.
        node = self.node
        return not node.sender.pending and node.led.state == swled.OFF and self.input_pin.value() == 1

    def step(self, now_ms):
        self.sample(now_ms)
        data = self.uart.read()
        if data:
            for line in self.reader.feed(data):
                self.node.receive(line, now_ms)
        for line in self.node.poll(now_ms):
            self.uart.write(line)
        if self.led_pin is not None:
            lit = self.node.led_level(now_ms)
            self.led_pin.value(1 - lit if self.led_active_low else lit)
        if self.buzzer_pin is not None and self.node.buzzer is not None:
            self.buzzer_pin.value(self.node.buzzer.level(now_ms))


class BridgeRunner(Runner):
    # The RF bridge: pulses captured by the pin IRQ are decoded here, outside the IRQ.
    def __init__(self, node, capture, decoder, repeat_filter, uart, led_pin=None, led_active_low=False):
        Runner.__init__(self, node, None, uart, led_pin, led_active_low)
        self.capture = capture
        self.decoder = decoder
        self.filter = repeat_filter

    def sample(self, now_ms):
        for code in self.capture.drain(self.decoder):
            if self.filter.accept(code, now_ms):
                fields = [("bits", self.decoder.bits)]
                tri = swrf.tristate(code, self.decoder.bits)
                if tri is not None:
                    fields.append(("tri", tri))
                self.node.emit_rf("ev1527", "%06x" % code, now_ms, fields)


def _bridge(cfg, pins, node, uart, led_pin, led_active_low):
    capture = swrf.PulseCapture(cfg.get("rf_buffer", 512))
    decoder = swrf.Decoder(cfg.get("rf_bits", 24), cfg.get("rf_confirm", 2))
    node.app.decoder = decoder
    node.rf_ack = bool(cfg.get("rf_ack", False))
    repeat_filter = swrf.RepeatFilter(cfg.get("rf_repeat_ms", 1000))
    pin = machine.Pin(pins["rf"], machine.Pin.IN)

    def on_edge(p):
        capture.edge(p.value(), time.ticks_us(), time.ticks_diff)

    pin.irq(handler=on_edge, trigger=machine.Pin.IRQ_RISING | machine.Pin.IRQ_FALLING)
    return BridgeRunner(node, capture, decoder, repeat_filter, uart, led_pin, led_active_low)


class BleRunner:
    # BLE transport: the node decides which advert is on air; the radio is only told when
    # that changes, so an alarm advert keeps its packet id and counter while it repeats.
    def __init__(self, node, input_pin, ble, led_pin=None, led_active_low=False, interval_us=100000,
                 tamper_pin=None):
        self.node = node
        self.input_pin = input_pin
        self.tamper_pin = tamper_pin
        self.ble = ble
        self.led_pin = led_pin
        self.led_active_low = led_active_low
        self.interval_us = interval_us
        self.on_air = None

    def idle(self):
        return self.on_air is None and self.input_pin.value() == 1

    def step(self, now_ms):
        tamper = self.tamper_pin.value() if self.tamper_pin is not None else None
        self.node.sample(now_ms, self.input_pin.value(), tamper)
        adv = self.node.tick(now_ms)
        if adv is not self.on_air:
            if adv is None:
                self.ble.gap_advertise(None)
            else:
                self.ble.gap_advertise(self.interval_us, adv_data=adv, connectable=False)
            self.on_air = adv
        if self.led_pin is not None:
            # No ack comes back over advertising: the LED can only say "sending".
            lit = 1 if adv is not None else 0
            self.led_pin.value(1 - lit if self.led_active_low else lit)


def _key(text):
    import binascii

    key = binascii.unhexlify(text)
    if len(key) != 16:
        raise ValueError("key must be 32 hex digits")
    return key


def _ble(cfg, pins, app, led_pin, led_active_low, now_ms, battery):
    import bluetooth
    import swaes
    import swble

    ble = bluetooth.BLE()
    ble.active(True)
    mac = bytes(ble.config("mac")[1])
    counters = SeqStore(cfg.get("state_prefix", "/seq"), cfg.get("seq_block", 64))
    node = swble.BleNode(
        app,
        counters,
        swaes.Aes(_key(cfg["key"])),
        mac,
        now_ms,
        battery=battery,
        heartbeat_ms=cfg.get("heartbeat_ms", 300000),
        name=cfg.get("ble_name"),
        alarm_ms=cfg.get("alarm_advert_ms", 5000),
    )
    input_pin = machine.Pin(pins["input"], machine.Pin.IN, machine.Pin.PULL_UP)
    tamper_pin = None
    if cfg.get("tamper", False) and pins.get("tamper") is not None:
        tamper_pin = machine.Pin(pins["tamper"], machine.Pin.IN, machine.Pin.PULL_UP)
        node.tamper = swtamper.Tamper()
    return BleRunner(node, input_pin, ble, led_pin, led_active_low, tamper_pin=tamper_pin)


def _adc(pin_id):
    pin = machine.Pin(pin_id)
    try:
        # ESP32: full-scale 0-2.5 V, so half a 3 V cell pair fits; other ports have no atten.
        return machine.ADC(pin, atten=machine.ADC.ATTN_11DB)
    except (AttributeError, TypeError, ValueError):
        return machine.ADC(pin)


class UsbSerial:
    # The board's own USB port (USB-Serial-JTAG on the ESP32-C3, CDC on the Pico), which
    # MicroPython also uses for its REPL: one cable to the gateway, no adapter. Nothing else in
    # the firmware may print, or the bytes would mix into the line protocol.
    def __init__(self):
        import select
        import sys

        import micropython

        # A stray 0x03 byte must not stop the firmware; maintenance mode (hold the button at
        # power-up, see main.py) keeps the REPL reachable instead.
        micropython.kbd_intr(-1)
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)

    def read(self, nbytes=-1):
        data = b""
        while len(data) < 256 and self._poll.poll(0):
            chunk = self._in.read(1)
            if not chunk:
                break
            data += chunk
        return data or None

    def write(self, data):
        return self._out.write(data)


def _serial_port(cfg, pins):
    if cfg.get("serial", "uart") == "usb":
        return UsbSerial()
    # Pin objects, not numbers: every port accepts them (not every port takes bare numbers).
    tx = machine.Pin(pins["tx"])
    rx = machine.Pin(pins["rx"])
    return machine.UART(pins["uart"], baudrate=cfg.get("baud", 115200), tx=tx, rx=rx)


def build(cfg, now_ms):
    pins = swpins.pins_for(cfg)
    app = swapp.make_app(cfg)
    battery = None
    # The bridge lives on USB power; a floating ADC pin would report nonsense.
    if pins.get("battery_adc") is not None and cfg.get("battery", cfg.get("app") != "rf_bridge"):
        empty_mv, full_mv = swpins.BATTERY_MV[cfg.get("board", "esp32c3")]
        battery = swbattery.Battery(
            _adc(pins["battery_adc"]),
            cfg.get("battery_divider", 2),
            cfg.get("battery_empty_mv", empty_mv),
            cfg.get("battery_full_mv", full_mv),
        )
    led_pin = None
    if pins.get("led") is not None:
        led_pin = machine.Pin(pins["led"], machine.Pin.OUT)
    led_active_low = bool(pins.get("led_active_low"))
    if cfg.get("transport", "serial") == "ble":
        return _ble(cfg, pins, app, led_pin, led_active_low, now_ms, battery)
    seqs = SeqStore(cfg.get("state_prefix", "/seq"), cfg.get("seq_block", 64))
    node = Node(
        cfg["node"],
        app,
        seqs,
        now_ms,
        heartbeat_ms=cfg.get("heartbeat_ms", 60000),
        battery=battery,
        sender=Sender(cfg.get("retry_base_ms", 1000), cfg.get("retry_max_ms", 30000)),
    )
    uart = _serial_port(cfg, pins)
    if cfg.get("app") == "rf_bridge":
        return _bridge(cfg, pins, node, uart, led_pin, led_active_low)
    input_pin = machine.Pin(pins["input"], machine.Pin.IN, machine.Pin.PULL_UP)
    tamper_pin = None
    if cfg.get("tamper", False) and pins.get("tamper") is not None:
        tamper_pin = machine.Pin(pins["tamper"], machine.Pin.IN, machine.Pin.PULL_UP)
        node.tamper = swtamper.Tamper()
    buzzer_pin = None
    if cfg.get("buzzer", False) and pins.get("buzzer") is not None:
        buzzer_pin = machine.Pin(pins["buzzer"], machine.Pin.OUT, value=0)
        node.buzzer = swbuzz.Buzzer()
    return Runner(node, input_pin, uart, led_pin, led_active_low, tamper_pin, buzzer_pin)


def loop(runner, poll_ms=_POLL_MS, should_stop=None, watchdog=None, idle_ms=0):
    # `watchdog`: a machine.WDT, fed once per pass, so a hung loop reboots the node (and the
    # retries resume from the persisted numbers). `idle_ms`: with nothing going on, sleep
    # lightly for that long instead of `poll_ms` (battery nodes); it must stay below the
    # debounce time so a press is still seen.
    idle = getattr(runner, "idle", None)
    faults = 0
    while should_stop is None or not should_stop():
        try:
            runner.step(time.ticks_ms())
            faults = 0
        except Exception:  # noqa: BLE001
            # A bug hit by one odd input must not silence the node for good: keep going, and
            # if it keeps failing, reboot; retries resume from the persisted numbers.
            faults += 1
            runner.faults = getattr(runner, "faults", 0) + 1
            if faults >= _MAX_FAULTS:
                machine.reset()
        if watchdog is not None:
            watchdog.feed()
        if idle_ms and idle is not None and idle():
            machine.lightsleep(idle_ms)
        else:
            time.sleep_ms(poll_ms)


def maintenance_requested(cfg):
    # Holding the button (or any input) at power-up skips the firmware and leaves the REPL
    # to mpremote: the way back in when the USB port carries the line protocol.
    pins = swpins.pins_for(cfg)
    if pins.get("input") is None or cfg.get("app") == "rf_bridge":
        return False
    pin = machine.Pin(pins["input"], machine.Pin.IN, machine.Pin.PULL_UP)
    return pin.value() == 0


def run(cfg, should_stop=None):
    runner = build(cfg, time.ticks_ms())
    watchdog = machine.WDT(timeout=cfg["watchdog_ms"]) if cfg.get("watchdog_ms") else None
    loop(runner, cfg.get("poll_ms", _POLL_MS), should_stop, watchdog, cfg.get("idle_sleep_ms", 0))
