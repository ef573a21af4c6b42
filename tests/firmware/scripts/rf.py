# ruff: noqa: RUF005  (MicroPython has no unpacking in list displays)
# RF decoding of EV1527/PT2262 pulse trains with jitter and noise from a fixed pseudo-random
# sequence, so MicroPython and CPython see the same pulses.
import swrf

_state = [12345]


def rand(n):
    # Park-Miller: the same numbers on every interpreter.
    _state[0] = (_state[0] * 48271) % 2147483647
    return _state[0] % n


def frame(code, unit):
    out = [(1, unit), (0, 31 * unit)]
    for shift in range(23, -1, -1):
        if (code >> shift) & 1:
            out += [(1, 3 * unit), (0, unit)]
        else:
            out += [(1, unit), (0, 3 * unit)]
    return out


def burst(code, unit, repeats):
    out = []
    for _ in range(repeats):
        out += frame(code, unit)
    return out + [(1, unit), (0, 31 * unit)]


def jitter(pulses, pct):
    return [(lv, us + (us * (rand(2 * pct + 1) - pct)) // 100) for lv, us in pulses]


def noise(total):
    out = []
    level = 1
    t = 0
    while t < total:
        # Mostly short spikes, sometimes a long quiet stretch that looks like a sync gap.
        us = 20 + rand(1500) if rand(8) else 2000 + rand(20000)
        out.append((level, us))
        t += us
        level ^= 1
    if level == 0:
        out.append((0, 100))
    return out


def decode(name, pulses, confirm=2):
    dec = swrf.Decoder(confirm=confirm)
    codes = []
    for level, us in pulses:
        code = dec.feed(level, us)
        if code is not None:
            codes.append("%06x" % code)
    print(name, codes, dec.frames, dec.aborted > 0)


decode("clean", burst(0x1E9F5B, 350, 6))
decode("slow_clock", burst(0x045A46, 580, 6))
decode("fast_clock", burst(0x045A46, 260, 6))
decode("jitter", jitter(burst(0x1E9F5B, 350, 6), 20))
decode("noise_only", noise(3000000))
decode("noise_then_code", noise(200000) + jitter(burst(0x1E9F5B, 400, 5), 15) + noise(200000))
decode("one_frame_not_enough", burst(0x1E9F5B, 350, 1))
decode("single_confirm", burst(0x1E9F5B, 350, 1), confirm=1)
decode("two_sensors", burst(0x1E9F5B, 350, 4) + [(0, 200000)] + burst(0x13CD03, 450, 4))
decode("same_again_after_quiet", burst(0x1E9F5B, 350, 4) + [(0, 200000)] + burst(0x1E9F5B, 350, 4))
cut = burst(0x1E9F5B, 350, 3)
decode("frame_cut_by_spike", cut[:30] + [(1, 30), (0, 40)] + cut[30:])
print("tristate", swrf.tristate(0x13CD03), swrf.tristate(0x1E9F5B))

f = swrf.RepeatFilter(window_ms=1000)
print("filter", [f.accept(c, t) for c, t in [(1, 0), (1, 300), (2, 400), (1, 1200), (1, 2400), (2, 2400)]])

cap = swrf.PulseCapture(size=8)


def diff(a, b):
    return a - b


t = 0
for level_after, width in [(1, 0), (0, 350), (1, 10850), (0, 1050), (1, 350)]:
    t += width
    cap.edge(level_after, t, diff)
print("capture", cap.widths[: cap.head], list(cap.levels[: cap.head]))
for i in range(20):
    cap.edge(i % 2, t + i, diff)
print("overruns", cap.overruns)
