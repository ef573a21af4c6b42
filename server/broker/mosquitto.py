"""Start, stop and restart a Mosquitto process from a config template kept in the repo."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from string import Template

DEFAULT_TEMPLATE = Path(__file__).with_name("mosquitto.conf.in")


class BrokerError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError("nothing listens on %s:%d after %.0f s" % (host, port, timeout)) from None
            time.sleep(0.02)


def terminate(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


class Mosquitto:
    """One Mosquitto on 127.0.0.1 and a fixed port, so it can be stopped and restarted."""

    def __init__(self, workdir: Path, port: int | None = None, template: Path = DEFAULT_TEMPLATE) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerError("mosquitto is not installed")
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
            wait_port(self.host, self.port)
        except BrokerError:
            self.stop()
            raise

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
