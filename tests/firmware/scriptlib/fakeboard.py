# A board for the parity scripts: pins, a UART and an ADC in memory, stepped on a counted
# clock, identical under MicroPython and CPython (so no typing, no f-strings, no dataclasses).
import machine


class FakeBoard:
    def __init__(self, levels=None, adc=60000):
        self.levels = levels if levels is not None else {}
        self.outputs = {}
        self.inbox = []
        self.sent = []
        self.adc = adc
        self.now = 0
        self.responder = None
        self.irqs = {}
        self.adverts = []

    def bind(self):
        machine.bind(self)

    def pin_level(self, pin):
        return self.levels.get(pin, 1)

    def set_output(self, pin, level):
        self.outputs[pin] = level

    def adc_read_u16(self, pin):
        return self.adc

    def set_irq(self, pin, handler):
        self.irqs[pin] = handler

    def ble_mac(self):
        return b"\xc2\x00\x00\x00\x00\xa3"

    def ble_advertise(self, interval_us, adv_data):
        self.adverts.append((self.now, adv_data))

    def uart_read(self, uart):
        if not self.inbox:
            return None
        data = b"".join(self.inbox)
        self.inbox = []
        return data

    def uart_write(self, uart, data):
        self.sent.append((self.now, data))
        if self.responder is not None:
            for line in self.responder(self.now, data):
                self.inbox.append(line)
        return len(data)

    def run(self, runner, until, timeline=(), pin=None, step=5):
        # timeline: (t_ms, level) for `pin`, sorted by time.
        events = list(timeline)
        while self.now <= until:
            while events and events[0][0] <= self.now:
                self.levels[pin] = events.pop(0)[1]
            runner.step(self.now)
            self.now += step


def show(items):
    for item in items:
        print(item)
