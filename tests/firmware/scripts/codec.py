# ruff: noqa: F821  (DATA_DIR and STATE_DIR are set by the runner, see fw_runtimes.py)
# Every serial line vector through the firmware codec: encode the message, decode the line.
import json

import swline

with open(DATA_DIR + "/serial_lines.json") as f:
    vectors = json.load(f)


def ordered(data, line):
    # JSON objects carry no order on MicroPython; the wire order is the order in the line.
    return sorted(data.items(), key=lambda kv: line.find("," + kv[0] + "="))


def encode(m, line):
    t = m["type"]
    if t == "EV":
        return swline.event(m["node"], m["seq"], m["kind"], ordered(m["data"], line))
    if t == "AK":
        return swline.encode(t, m["node"], m["seq"], m["level"])
    if t == "NK":
        return swline.encode(t, m["node"], m["seq"], m["reason"])
    if t == "CM":
        return swline.encode(t, m["node"], m["seq"], m["op"], ordered(m["args"], line))
    if t == "CR":
        return swline.encode(t, m["node"], m["seq"], m["ok"], ordered(m["data"], line))
    return swline.encode(t, m["node"], m["seq"], (m["proto"], m["code"]), ordered(m["data"], line))


for v in vectors:
    line = v["line"].encode()
    if "message" in v:
        print("enc", encode(v["message"], v["line"]) == line, encode(v["message"], v["line"]))
    try:
        print("dec", swline.decode(line))
    except swline.LineError as exc:
        print("err", exc.reason)

# Values the gateway never sends but the node must handle the same way.
print(swline.event("00a3", 3, "test", [("flag", True), ("off", False), ("n", -12)]))
for bad in [("BAD", 1, "panic"), ("00a3", -1, "panic"), ("00a3", 1, "boom")]:
    try:
        swline.event(bad[0], bad[1], bad[2])
    except swline.LineError as exc:
        print("enc-err", exc.reason)
for line in [b"EV,00a3,1,panic*" + b"\xe9\xe9\xe9\xe9\n", b"\n", b"*FFFF\n", b"EV,00a3,1,panic*29B1\r\n"]:
    try:
        print("dec", swline.decode(line))
    except swline.LineError as exc:
        print("err", exc.reason)
