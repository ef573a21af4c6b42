# Entry point on the device: MicroPython runs main.py after boot.
import json

import swmain

with open("/swconfig.json") as f:
    swmain.run(json.load(f))
