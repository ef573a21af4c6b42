# Entry point on the device: MicroPython runs main.py after boot. Hold the button while
# powering up to get the REPL instead (maintenance mode).
import json

import swmain

with open("/swconfig.json") as f:
    _cfg = json.load(f)
if not swmain.maintenance_requested(_cfg):
    swmain.run(_cfg)
