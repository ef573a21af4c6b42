"""Process helpers shared by the local stack, the broker runner, the tests and the benchmarks."""

from __future__ import annotations

import socket
import subprocess
import time

from shouwang.errors import NotListeningError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_port(
    host: str, port: int, timeout: float = 10.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Return once something accepts connections on ``host:port``.

    NotListeningError after ``timeout``, or as soon as ``process`` (the one meant to listen) exits.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if process is not None and process.poll() is not None:
                what = "the process exited with %d before listening on %s:%d" % (
                    process.returncode, host, port
                )
                raise NotListeningError(what) from None
            if time.monotonic() > deadline:
                what = "nothing listens on %s:%d after %.0f s" % (host, port, timeout)
                raise NotListeningError(what) from None
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
