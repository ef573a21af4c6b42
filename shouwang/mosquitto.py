"""Start, stop and restart a Mosquitto process from a config template kept in the repo."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from string import Template

from shouwang.errors import BrokerError, NotListeningError
from shouwang.processes import free_port, terminate, wait_port

DEFAULT_TEMPLATE = Path(__file__).with_name("mosquitto.conf.in")
# Debian installs the broker in /usr/sbin, which is not on every user's PATH.
SBIN_DIRS: tuple[str, ...] = ("/usr/sbin", "/usr/local/sbin")
INSTALL_HINT = (
    "Mosquitto (the MQTT broker) is not installed: on Debian or Raspberry Pi OS run "
    "`sudo apt-get install mosquitto`; for other systems see https://mosquitto.org/download/"
)


def mosquitto_binary() -> str | None:
    """The `mosquitto` executable on PATH or in the sbin folders, or None."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *SBIN_DIRS])
    return shutil.which("mosquitto", path=search)


class Mosquitto:
    """One Mosquitto on 127.0.0.1 and a fixed port, so it can be stopped and restarted."""

    def __init__(self, workdir: Path, port: int | None = None, template: Path = DEFAULT_TEMPLATE) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerError(INSTALL_HINT)
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            Template(template.read_text()).substitute(
                port=self.port, host=self.host, workdir=str(workdir)
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return "mqtt://%s:%d" % (self.host, self.port)

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        log = open(self.workdir / "mosquitto.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        try:
            wait_port(self.host, self.port, process=self.proc)
        except NotListeningError as exc:
            self.stop()
            log_path = self.workdir / "mosquitto.log"
            raise BrokerError("mosquitto did not start (see %s): %s" % (log_path, exc)) from None

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: the broker loses whatever it had not saved."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
