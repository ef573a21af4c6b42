# Panic button logic on scripted pin timelines (pin low = pressed). Prints the events with the
# tick at which each was raised.
import swbutton


def run(name, timeline, until, **options):
    button = swbutton.PanicButton(**options)
    events = list(timeline)
    level = 1
    out = []
    for now in range(0, until + 1, 5):
        while events and events[0][0] <= now:
            level = events.pop(0)[1]
        for kind in button.update(now, level):
            out.append((now, kind))
    print(name, out)


def press(start, length):
    return [(start, 0), (start + length, 1)]


run("bump", press(1000, 300), 5000)
run("brush", press(1000, 30), 5000)
run("long_press", press(1000, 2000), 5000)
run("exactly_long", press(1000, 1500), 5000)
run("just_short", press(1000, 1490), 5000)
run("two_long_presses", press(1000, 2000) + press(6000, 1600), 9000)
# Contact bounce on press and release: 5-10 ms spikes must not split one press into many.
bounce = [(1000, 0), (1005, 1), (1010, 0), (1020, 1), (1025, 0), (2700, 1), (2705, 0), (2710, 1)]
run("bounce_long", bounce, 5000)
# A bouncing press shorter than long_ms is still a bump.
run("bounce_bump", [(1000, 0), (1005, 1), (1010, 0), (1400, 1), (1405, 0), (1410, 1)], 5000)
# Noise spikes shorter than the debounce never count.
run("noise", [(t, (t // 5) % 2) for t in range(1000, 1040, 5)] + [(1040, 1)], 3000)
cancel = press(1000, 2000) + press(5000, 200) + press(5500, 200)
run("double_press_cancel", cancel, 8000)
run("double_press_too_slow", press(1000, 2000) + press(5000, 200) + press(7000, 200), 9000)
run("double_press_after_grace", press(1000, 2000) + press(40000, 200) + press(40400, 200), 42000)
run("double_press_without_panic", press(1000, 200) + press(1400, 200), 3000)
run("custom_long", press(1000, 900), 3000, long_ms=800, debounce_ms=20)
run("active_high", [(0, 0), (1000, 1), (3000, 0)], 4000, active_low=False)
run("triple_press_test", press(1000, 150) + press(1500, 150) + press(2000, 150), 4000)
run("triple_press_too_slow", press(1000, 150) + press(1500, 150) + press(3500, 150), 5000)
run(
    "triple_press_after_panic_cancels_once",
    press(0, 2000) + press(5000, 150) + press(5400, 150) + press(5800, 150),
    8000,
)
