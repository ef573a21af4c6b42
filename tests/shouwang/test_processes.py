"""Process helpers and the Mosquitto runner: ports, termination, start failures."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shouwang import mosquitto
from shouwang.errors import BrokerError, NotListeningError
from shouwang.mosquitto import INSTALL_HINT, Mosquitto
from shouwang.processes import free_port, terminate, wait_port

IGNORES_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_wait_port_returns_once_something_listens() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        wait_port("127.0.0.1", port, timeout=5)


def test_wait_port_gives_up_after_its_timeout() -> None:
    port = free_port()
    with pytest.raises(NotListeningError) as err:
        wait_port("127.0.0.1", port, timeout=0.1)
    assert str(err.value) == "nothing listens on 127.0.0.1:%d after 0 s" % port


def test_wait_port_stops_waiting_when_the_process_exits() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(NotListeningError) as err:
        wait_port("127.0.0.1", port, timeout=60, process=proc)
    assert str(err.value) == "the process exited with 3 before listening on 127.0.0.1:%d" % port


def test_terminate_sends_sigterm_first() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    terminate(proc)
    assert proc.returncode == -signal.SIGTERM


def test_terminate_kills_what_ignores_sigterm() -> None:
    proc = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    terminate(proc, timeout=0.2)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


def test_terminate_leaves_an_exited_process_alone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    terminate(proc)
    assert proc.returncode == 0


def test_mosquitto_restarts_on_the_same_port(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        assert broker.url == "mqtt://127.0.0.1:%d" % broker.port
        first = broker.proc
        broker.restart()
        assert broker.proc is not first
        wait_port("127.0.0.1", broker.port, timeout=5)
    assert broker.proc is None
    assert first is not None and first.returncode == 0  # mosquitto shuts down cleanly on SIGTERM


def test_mosquitto_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    template = tmp_path / "bad.conf.in"
    template.write_text("listener $port $host\nno_such_option true\n")
    broker = Mosquitto(tmp_path / "broker", template=template)
    with pytest.raises(BrokerError) as err:
        broker.start()
    log = tmp_path / "broker" / "mosquitto.log"
    assert str(err.value).startswith("mosquitto did not start (see %s): the process exited with " % log)
    assert broker.proc is None
    assert "no_such_option" in log.read_text()


def test_mosquitto_missing_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(mosquitto, "SBIN_DIRS", ())
    with pytest.raises(BrokerError) as err:
        Mosquitto(tmp_path / "broker")
    assert str(err.value) == INSTALL_HINT
    assert not (tmp_path / "broker").exists()
