# Door sensor logic: reed contact with pull-up, 1 = open by default.
import swdoor


def run(name, timeline, until, start=0, **options):
    door = swdoor.DoorSensor(**options)
    events = list(timeline)
    level = start
    out = []
    for now in range(0, until + 1, 5):
        while events and events[0][0] <= now:
            level = events.pop(0)[1]
        for kind in door.update(now, level):
            out.append((now, kind))
    print(name, out, door.status())


run("open_close", [(1000, 1), (3000, 0)], 5000)
run("boot_open_no_event", [], 2000, start=1)
run(
    "reed_bounce",
    [(1000, 1), (1010, 0), (1020, 1), (1030, 0), (1045, 1), (4000, 0), (4020, 1), (4030, 0)],
    6000,
)
run("flutter_filtered", [(1000, 1), (1050, 0), (2000, 1), (2060, 0)], 3000)
run("inverted_wiring", [(1000, 0), (3000, 1)], 5000, start=1, open_level=0)
run("slow_debounce", [(1000, 1), (1150, 0), (2000, 1)], 3000, debounce_ms=200)
