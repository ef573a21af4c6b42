# Glue between the pure node logic and the board: machine.Pin / UART / ADC and the tick
# clock. Everything here is thin on purpose; the behaviour lives in swnode and the apps.
import time

import machine
import swapp
import swbattery
import swline
import swpins
from micropython import const
from swnode import Node
from swsend import Sender
from swseq import SeqStore

_POLL_MS = const(5)


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
    def __init__(self, node, input_pin, uart, led_pin=None, led_active_low=False):
        self.node = node
        self.input_pin = input_pin
        self.uart = uart
        self.led_pin = led_pin
        self.led_active_low = led_active_low
        self.reader = LineReader()

    def step(self, now_ms):
        self.node.sample(now_ms, self.input_pin.value())
        data = self.uart.read()
        if data:
            for line in self.reader.feed(data):
                self.node.receive(line, now_ms)
        for line in self.node.poll(now_ms):
            self.uart.write(line)
        if self.led_pin is not None:
            lit = self.node.led_level(now_ms)
            self.led_pin.value(1 - lit if self.led_active_low else lit)


def build(cfg, now_ms):
    pins = swpins.pins_for(cfg)
    app = swapp.make_app(cfg)
    seqs = SeqStore(cfg.get("state_prefix", "/seq"), cfg.get("seq_block", 64))
    battery = None
    if pins.get("battery_adc") is not None and cfg.get("battery", True):
        adc = machine.ADC(machine.Pin(pins["battery_adc"]))
        battery = swbattery.Battery(adc, cfg.get("battery_divider", 2))
    node = Node(
        cfg["node"],
        app,
        seqs,
        now_ms,
        heartbeat_ms=cfg.get("heartbeat_ms", 60000),
        battery=battery,
        sender=Sender(cfg.get("retry_base_ms", 1000), cfg.get("retry_max_ms", 30000)),
    )
    input_pin = machine.Pin(pins["input"], machine.Pin.IN, machine.Pin.PULL_UP)
    uart = machine.UART(pins["uart"], baudrate=cfg.get("baud", 115200), tx=pins["tx"], rx=pins["rx"])
    led_pin = None
    if pins.get("led") is not None:
        led_pin = machine.Pin(pins["led"], machine.Pin.OUT)
    return Runner(node, input_pin, uart, led_pin, bool(pins.get("led_active_low")))


def loop(runner, poll_ms=_POLL_MS, should_stop=None):
    while should_stop is None or not should_stop():
        runner.step(time.ticks_ms())
        time.sleep_ms(poll_ms)


def run(cfg, should_stop=None):
    loop(build(cfg, time.ticks_ms()), cfg.get("poll_ms", _POLL_MS), should_stop)
