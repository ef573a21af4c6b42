# ruff: noqa: F821  (STATE_DIR is set by the runner, see fw_runtimes.py)
# Every app and transport built by the glue (swmain.build) on a fake board, then driven:
# tamper and buzzer on a door sensor, the RF bridge fed pulses, the BLE button advertising.
import binascii

import swbattery
import swline
import swmain
import swpins
from fakeboard import FakeBoard

print("pins", sorted(swpins.pins_for({"board": "picow", "pins": {"input": 2}}).items()))
print("battery", [swbattery.percent(mv) for mv in (2000, 2200, 2600, 3000, 3300)])
def roundtrip(pct):
    return swbattery.percent(swbattery.millivolts(swbattery.raw_for_percent(pct)))


print("raw", [roundtrip(p) for p in (0, 20, 50, 99, 100)])

# Door sensor with tamper switch and buzzer, acked by a gateway that also accepts.
cfg = {"node": "00d1", "app": "door_sensor", "state_prefix": STATE_DIR + "/door", "tamper": True,
       "buzzer": True, "heartbeat_ms": 4000}
board = FakeBoard(levels={4: 0, 5: 0})
board.bind()
runner = swmain.build(cfg, 0)


def ack_all(now, line):
    mtype, node, seq, _head, _f = swline.decode(line)
    if mtype != "EV":
        return []
    return [swline.encode("AK", node, seq, "stored")]


board.responder = ack_all
timeline = [(1000, 1), (3000, 0)]
board.run(runner, 5000, timeline, 4)
board.levels[5] = 1
board.run(runner, 6000)
for t, line in board.sent:
    print("door", t, line)

# Panic button: the buzzer plays when the acks arrive.
cfg = {"node": "00a3", "app": "panic_button", "state_prefix": STATE_DIR + "/btn", "buzzer": True}
board = FakeBoard()
board.bind()
runner = swmain.build(cfg, 0)
board.run(runner, 2000, [(0, 0)], 4)
board.inbox.append(swline.encode("AK", "00a3", 1, "accepted"))
buzz = []
for _ in range(300):
    runner.step(board.now)
    buzz.append(board.outputs.get(7, 0))
    board.now += 5
print("buzz", runner.node.buzzer.played, sum(buzz) * 5, runner.idle())

# RF bridge: pulses through the IRQ handler the glue registered.
cfg = {"node": "00b1", "app": "rf_bridge", "board": "picow", "state_prefix": STATE_DIR + "/rf"}
board = FakeBoard()
board.bind()
runner = swmain.build(cfg, 0)
print("irq registered", sorted(board.irqs))


def diff(a, b):
    return a - b


t = 0
pulses = []
for _ in range(4):
    pulses += [(1, 350), (0, 10850)]
    for shift in range(23, -1, -1):
        pulses += [(1, 1050), (0, 350)] if (0x1E9F5B >> shift) & 1 else [(1, 350), (0, 1050)]
pulses += [(1, 350), (0, 10850)]
for level, us in pulses:
    runner.capture.edge(level, t, diff)
    t += us
runner.capture.edge(1, t, diff)
board.run(runner, 100)
print("rf", [line for _, line in board.sent])

# BLE button: the advert on air while the alarm repeats.
cfg = {"node": "00a3", "app": "panic_button", "transport": "ble", "state_prefix": STATE_DIR + "/ble",
       "key": "231d39c1d7cc1ab1aee224cd096db932", "ble_name": "SW-BTN"}
board = FakeBoard()
board.bind()
runner = swmain.build(cfg, 0)
board.run(runner, 8000, [(0, 0), (2000, 1)], 4)
for t, adv in board.adverts:
    print("ble", t, binascii.hexlify(adv).decode() if adv else None)
