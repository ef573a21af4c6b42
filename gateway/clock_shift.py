"""A wall clock that tests can move while a gateway process runs.

``SHOUWANG_TEST_CLOCK_SHIFT_FILE`` names a file holding a number of seconds (``3600``,
``-3600``) added to the system's wall clock; it is read on every call, so a test moves the
clock by rewriting the file. A missing or unreadable file adds nothing. Only the wall clock
moves, as when NTP or a person steps it: the monotonic clock of timers never jumps. Nothing but
the chaos tests sets the variable; `shouwang gateway run` without it uses the plain clock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

CLOCK_SHIFT_ENV = "SHOUWANG_TEST_CLOCK_SHIFT_FILE"


class ClockShift:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ClockShift | None:
        value = environ.get(CLOCK_SHIFT_ENV)
        return cls(Path(value)) if value else None

    def seconds(self) -> float:
        try:
            return float(self.path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return 0.0

    def time(self) -> float:
        return time.time() + self.seconds()

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.seconds())
