"""Firmware cost figures: ``python -m hardware.fwbench`` prints JSON.

The same workload runs on CPython (the virtual board) and on MicroPython (the WebAssembly
build under node). Neither is a device: the figures compare code paths and catch regressions;
a device is slower still (an ESP32-C3 runs MicroPython roughly 20-50x slower than a PC).
"""

from __future__ import annotations

import ast
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hardware.shims import FIRMWARE_DIR, install

WORKLOAD = r"""
import time
import swline, swrf, swaes, swbthome

def clock():
    return time.ticks_us()

def per_op(fn, n):
    t0 = clock()
    for _ in range(n):
        fn()
    return time.ticks_diff(clock(), t0) / n

line = swline.event("00a3", 17, "panic", [("battery", 87)])
pulses = []
for _ in range(4):
    pulses += [(1, 350), (0, 10850)]
    for shift in range(23, -1, -1):
        pulses += [(1, 1050), (0, 350)] if (0x1E9F5B >> shift) & 1 else [(1, 350), (0, 1050)]

def rf():
    dec = swrf.Decoder()
    for level, us in pulses:
        dec.feed(level, us)

aes = swaes.Aes(bytes(range(16)), native=False)
mac = bytes(6)
objs = swbthome.objects(1, 87, None, None, swbthome.LONG_PRESS)
out = {
    "encode_event_us": per_op(lambda: swline.event("00a3", 17, "panic", [("battery", 87)]), 3000),
    "decode_line_us": per_op(lambda: swline.decode(line), 3000),
    "rf_decode_per_pulse_us": per_op(rf, 200) / len(pulses),
    "aes_block_pure_us": per_op(lambda: aes.encrypt_block(bytes(16)), 500),
    "bthome_advert_pure_us": per_op(lambda: swbthome.service_data(objs, aes, mac, 5), 200),
}
print("RESULT " + repr(sorted(out.items())))
"""

RUNNER = r"""
import { createRequire } from "module";
import { pathToFileURL } from "url";
import { readFileSync, readdirSync } from "fs";
const [project, dir, code] = process.argv.slice(2);
// Resolve the package from the firmware tests' npm project, wherever this runner file lives.
const require = createRequire(project + "/package.json");
const entry = require.resolve("@micropython/micropython-webassembly-pyscript");
const { loadMicroPython } = await import(pathToFileURL(entry).href);
const mp = await loadMicroPython({ stdout: (l) => console.log(l), linebuffer: true });
mp.FS.mkdir("/lib");
for (const f of readdirSync(dir)) {
  if (f.endsWith(".py")) mp.FS.writeFile("/lib/" + f, readFileSync(dir + "/" + f));
}
mp.runPython("import sys\nsys.path.append('/lib')\n" + readFileSync(code, "utf8"));
"""


def _parse(text: str) -> dict[str, float]:
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return {k: round(float(v), 2) for k, v in ast.literal_eval(line[7:])}
    raise RuntimeError("no result in output: %s" % text[-500:])


def cpython() -> dict[str, float]:
    install()
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        exec(compile(WORKLOAD, "workload", "exec"), {"__name__": "__main__"})
    return _parse(buf.getvalue())


def micropython(npm_project: Path) -> dict[str, float] | None:
    node = shutil.which("node")
    if node is None or not (npm_project / "node_modules").is_dir():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        runner = Path(tmp) / "run.mjs"
        code = Path(tmp) / "workload.py"
        runner.write_text(RUNNER)
        code.write_text(WORKLOAD)
        proc = subprocess.run(
            [node, str(runner), str(npm_project), str(FIRMWARE_DIR), str(code)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    return _parse(proc.stdout)


def virtual_board_latency(presses: int = 20) -> dict[str, float]:
    """Time from the moment a press becomes a long press to the line on the pty, as a gateway
    would read it (firmware poll period 5 ms, real time, real pty)."""
    import serial

    from hardware.virtual_board import VirtualBoard
    from protocol import serial_line as sl

    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        with VirtualBoard(app="panic_button", node="00a3", state_dir=Path(tmp), long_press_ms=100) as board:
            with serial.Serial(board.port, 115200, timeout=1) as port:
                for seq in range(1, presses + 1):
                    start = time.monotonic()
                    board.press(0.15)
                    line = port.readline()
                    samples.append((time.monotonic() - start) * 1000 - 100)
                    assert line.startswith(b"EV,00a3,%d,panic" % seq), line
                    port.write(sl.encode(sl.SerialAck("00a3", seq, sl.AckLevel.STORED)))
                    board.wait_ack(seq, "stored", timeout=5)
                    time.sleep(0.1)
    samples.sort()
    return {"median_ms": round(samples[len(samples) // 2], 1), "max_ms": round(samples[-1], 1)}


def main() -> None:
    npm_project = FIRMWARE_DIR.parent / "tests" / "firmware"  # where `npm ci --prefix` installed it
    started = time.time()
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpu": platform.machine()},
        "cpython": cpython(),
        "micropython_wasm": micropython(npm_project),
        "virtual_board_long_press_to_line": virtual_board_latency(),
        "seconds": 0.0,
    }
    report["seconds"] = round(time.time() - started, 1)
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
