"""433 MHz pulse trains as an OOK receiver (RXB6) outputs them, for virtual transmitters and
decoder tests: EV1527/PT2262 frames, PT2262 tristate codes, and receiver noise."""

from __future__ import annotations

import random

Pulse = tuple[int, int]  # (level, microseconds); level 1 = carrier on


def frame(code: int, unit_us: int = 350, bits: int = 24) -> list[Pulse]:
    """One frame: sync (1 unit high, 31 low) then ``bits`` bits, MSB first."""
    pulses: list[Pulse] = [(1, unit_us), (0, 31 * unit_us)]
    for shift in range(bits - 1, -1, -1):
        if (code >> shift) & 1:
            pulses += [(1, 3 * unit_us), (0, unit_us)]
        else:
            pulses += [(1, unit_us), (0, 3 * unit_us)]
    return pulses


def transmission(code: int, unit_us: int = 350, repeats: int = 8, bits: int = 24) -> list[Pulse]:
    """What a sensor sends for one press: the frame repeated, plus a closing sync so the last
    repeat is complete."""
    pulses: list[Pulse] = []
    for _ in range(repeats):
        pulses += frame(code, unit_us, bits)
    return [*pulses, (1, unit_us), (0, 31 * unit_us)]


def pt2262_code(tristate: str) -> int:
    """``"0F01101F1000"`` -> the 24-bit code the air carries (0 -> 00, 1 -> 11, F -> 01)."""
    pairs = {"0": 0b00, "1": 0b11, "F": 0b01, "Z": 0b01}
    code = 0
    for symbol in tristate.upper():
        code = (code << 2) | pairs[symbol]
    return code


def jitter(pulses: list[Pulse], rng: random.Random, fraction: float = 0.15) -> list[Pulse]:
    """Stretch or shrink every pulse by up to ``fraction``, as a cheap receiver does."""
    return [(level, max(1, round(us * (1 + rng.uniform(-fraction, fraction))))) for level, us in pulses]


def noise(rng: random.Random, duration_us: int, min_us: int = 20, max_us: int = 2000) -> list[Pulse]:
    """Random pulses, as an RXB6 outputs with its gain turned up and nothing transmitting."""
    pulses: list[Pulse] = []
    level = 1
    total = 0
    while total < duration_us:
        # Mostly short spikes, sometimes a long quiet stretch that looks like a sync gap.
        us = rng.randint(min_us, max_us) if rng.random() < 0.85 else rng.randint(2000, 20000)
        pulses.append((level, us))
        total += us
        level ^= 1
    if pulses and pulses[-1][0] == 1:
        pulses.append((0, min_us))
    return pulses
