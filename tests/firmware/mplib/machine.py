# Test stand-in for `machine` on MicroPython builds without one (the WebAssembly port), with
# the same bind() as the CPython shim, so a script drives either through one fake board.
_board = None


def bind(board):
    global _board
    _board = board


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        self._board = _board
        if value is not None:
            _board.set_output(pin_id, value)

    def irq(self, handler=None, trigger=0, hard=False):
        self._board.set_irq(self.id, handler)

    def value(self, level=None):
        if level is None:
            return self._board.pin_level(self.id)
        self._board.set_output(self.id, 1 if level else 0)


class UART:
    def __init__(self, uart_id, baudrate=115200, **options):
        self.id = uart_id
        self._board = _board

    def read(self, nbytes=-1):
        return self._board.uart_read(self.id)

    def write(self, data):
        return self._board.uart_write(self.id, data)


class ADC:
    def __init__(self, pin):
        self._pin = pin.id if isinstance(pin, Pin) else pin
        self._board = _board

    def read_u16(self):
        return self._board.adc_read_u16(self._pin)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout

    def feed(self):
        pass


def lightsleep(ms=None):
    pass
