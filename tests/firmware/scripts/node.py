# ruff: noqa: F821  (DATA_DIR and STATE_DIR are set by the runner, see fw_runtimes.py)
# The whole node through its glue (swmain.build on a fake board): events, retries, acks, LED,
# commands, bad input. The gateway is played by the responder below.
import swline
import swmain
from fakeboard import FakeBoard

cfg = {
    "node": "00a3",
    "app": "panic_button",
    "state_prefix": STATE_DIR + "/seq",
    "heartbeat_ms": 20000,
    "retry_base_ms": 1000,
    "retry_max_ms": 4000,
}
board = FakeBoard(adc=60000)
board.bind()
runner = swmain.build(cfg, 0)
pin = 4
acks = {}


def gateway(now, line):
    mtype, node, seq, head, _fields = swline.decode(line)
    if mtype != "EV" or now < 4000:
        return []  # gateway down for the first 4 s
    out = [swline.encode("AK", node, seq, "stored")]
    if head == "panic":
        out.append(swline.encode("AK", node, seq, "delivered"))
        acks[seq] = now
    return out


board.responder = gateway
board.run(runner, 12000, [(1000, 0), (3000, 1)], pin)
for t, line in board.sent:
    print(t, line)
print("acks", runner.node.acks)
print("events", runner.node.events)
print("led", board.outputs)

# LED patterns over time after the delivered ack.
print("led_state", runner.node.led.state, [runner.node.led_level(board.now + d) for d in range(0, 2000, 150)])
runner.node.receive(swline.encode("AK", "00a3", 1, "accepted"), board.now)
print("accepted", runner.node.led.state, runner.node.led_level(board.now + 5000))

# Commands, a repeated command, an unknown op, a line for another node, garbage.
board.responder = None
board.sent = []
board.inbox = [
    swline.encode("CM", "00a3", 7, "ping"),
    swline.encode("CM", "00a3", 7, "ping"),
    swline.encode("CM", "00a3", 8, "launch"),
    swline.encode("CM", "00a3", 9, "status"),
    swline.encode("AK", "00b1", 1, "stored"),
    b"EV,00a3,1,panic*0000\n",
    b"x" * 300 + b"\n",
    swline.encode("NK", "00a3", 99, "unknown_device"),
]
board.run(runner, board.now + 20)
for _t, line in board.sent:
    print("reply", line)
print("errors", sorted(runner.node.errors.items()), runner.reader.overflows)
print("naks", runner.node.naks)

# Reboot: a new build on the same flash continues above every seq used before.
board2 = FakeBoard()
board2.bind()
runner2 = swmain.build(cfg, 0)
print("after reboot", runner2.node.seqs.peek() > max(s for s, k in runner.node.events))

# Door sensor with heartbeat status and a low battery.
dcfg = {"node": "00d1", "app": "door_sensor", "state_prefix": STATE_DIR + "/door", "heartbeat_ms": 3000}
door = FakeBoard(levels={4: 0}, adc=22000)
door.bind()
drunner = swmain.build(dcfg, 0)
door.run(drunner, 7000, [(1000, 1), (2000, 0), (4000, 1)], 4)
for t, line in door.sent:
    print(t, line)
