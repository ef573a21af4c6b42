"""Makes the MicroPython/CPython runner module in this folder importable by its tests
(pytest imports test files by path, not as a package)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
