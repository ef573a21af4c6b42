"""main.py, the device entry point, on real MicroPython: it reads /swconfig.json and, with the
button held at power-up, leaves the firmware alone (maintenance mode)."""

from __future__ import annotations

import json

from fw_runtimes import FIRMWARE, run_micropython

BOOT = """
import machine
from fakeboard import FakeBoard
board = FakeBoard(levels={4: %d})
board.bind()
import swmain
swmain.run = lambda cfg, should_stop=None: print("firmware started for", cfg["node"])
exec(open("/lib/main.py").read())
print("main.py returned")
"""


def test_main_reads_config_and_honours_maintenance_mode() -> None:
    config = json.dumps({"node": "00a3", "app": "panic_button"})
    results = run_micropython(
        [],
        {"/swconfig.json": config},
        [("held", BOOT % 0), ("released", BOOT % 1)],
    )
    assert results["held"] == ("main.py returned\n", None)
    assert results["released"] == ("firmware started for 00a3\nmain.py returned\n", None)
    assert (FIRMWARE / "main.py").is_file()
