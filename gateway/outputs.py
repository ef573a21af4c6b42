"""The station's own outputs (siren, relay). Without a configured command the state is only
kept and logged, which is what a gateway without wired outputs should do."""

from __future__ import annotations

import logging
import subprocess
import threading

log = logging.getLogger(__name__)


class LocalOutputs:
    def __init__(self, commands: dict[str, tuple[str, ...]] | None = None) -> None:
        # name -> argv with "{on}" replaced by 1 or 0, e.g. ("gpioset", "gpiochip0", "17={on}")
        self.commands = dict(commands or {})
        self._lock = threading.Lock()
        self.state: dict[str, bool] = {}

    def set(self, name: str, on: bool) -> None:
        with self._lock:
            self.state[name] = on
        argv = self.commands.get(name)
        log.warning("local %s %s", name, "ON" if on else "off")
        if argv:
            try:
                subprocess.run([a.replace("{on}", "1" if on else "0") for a in argv], check=True, timeout=5,
                               stdin=subprocess.DEVNULL, capture_output=True)
            except (OSError, subprocess.SubprocessError) as exc:
                from gateway.errors import GatewayError

                raise GatewayError("%s output failed: %s" % (name, exc)) from None
