# Battery percentage from an ADC reading of the cell voltage through a divider. Linear between
# `empty_mv` and `full_mv`: crude, but the alarm only needs "replace soon" well before the cell
# is too weak to send a panic, and a table per chemistry lives in the config, not here.
from micropython import const

_FULL_MV = const(3000)  # two fresh AA alkaline cells
_EMPTY_MV = const(2200)  # below this the radio brown-outs under load
_VREF_MV = const(3300)


def percent(mv, empty_mv=_EMPTY_MV, full_mv=_FULL_MV):
    if mv <= empty_mv:
        return 0
    if mv >= full_mv:
        return 100
    return (mv - empty_mv) * 100 // (full_mv - empty_mv)


def millivolts(raw_u16, divider=2, vref_mv=_VREF_MV):
    return raw_u16 * vref_mv * divider // 65535


def raw_for_percent(pct, divider=2, vref_mv=_VREF_MV, empty_mv=_EMPTY_MV, full_mv=_FULL_MV):
    # The inverse, for boards without a cell (the virtual board) and for calibration notes.
    mv = empty_mv + (full_mv - empty_mv) * pct // 100
    return (mv * 65535 + vref_mv * divider - 1) // (vref_mv * divider)


class Battery:
    def __init__(self, adc, divider=2, empty_mv=_EMPTY_MV, full_mv=_FULL_MV):
        self.adc = adc
        self.divider = divider
        self.empty_mv = empty_mv
        self.full_mv = full_mv

    def __call__(self):
        if hasattr(self.adc, "read_uv"):
            # ESP32: calibrated reading, far better than scaling the raw count.
            mv = self.adc.read_uv() * self.divider // 1000
        else:
            mv = millivolts(self.adc.read_u16(), self.divider)
        return percent(mv, self.empty_mv, self.full_mv)
