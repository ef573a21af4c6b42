"""The station's own outputs (siren, relay). Without a configured command the state is only
kept and logged, which is what a gateway without wired outputs should do."""

from __future__ import annotations

import logging
import subprocess
import threading

from gateway.errors import GatewayError

log = logging.getLogger(__name__)

OUTPUTS = ("siren", "relay")


class LocalOutputs:
    def __init__(self, commands: dict[str, tuple[str, ...]] | None = None) -> None:
        # name -> argv with "{on}" replaced by 1 or 0, e.g. ("gpioset", "gpiochip0", "17={on}")
        self.commands = dict(commands or {})
        self._lock = threading.Lock()
        self.state: dict[str, bool] = {}

    def names(self) -> list[str]:
        """Every output this station has: the wired ones and any whose state is kept."""
        with self._lock:
            return sorted(set(OUTPUTS) | set(self.commands) | set(self.state))

    def set(self, name: str, on: bool, *, level: int = logging.WARNING) -> None:
        with self._lock:
            self.state[name] = on
        argv = self.commands.get(name)
        log.log(level, "local %s %s", name, "ON" if on else "off")
        if argv:
            try:
                subprocess.run([a.replace("{on}", "1" if on else "0") for a in argv], check=True, timeout=5,
                               stdin=subprocess.DEVNULL, capture_output=True)
            except (OSError, subprocess.SubprocessError) as exc:
                raise GatewayError("%s output failed: %s" % (name, exc)) from None
