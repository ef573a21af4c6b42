"""`shouwang demo` keeps the README promise: everything up, URLs printed, alarms flowing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest


def _read_until(proc: subprocess.Popen[str], prefixes: tuple[str, ...], timeout: float) -> dict[str, str]:
    found: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while len(found) < len(prefixes):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError("demo did not print %s (exit %s)" % (prefixes, proc.poll()))
        line = proc.stdout.readline()
        for prefix in prefixes:
            if line.startswith(prefix):
                found[prefix] = line[len(prefix) :].strip()
    return found


@pytest.mark.slow
def test_demo_runs_the_whole_system(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shouwang",
            "demo",
            "--auto-press",
            "2",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        out = _read_until(proc, ("broker: ", "server: ", "admin login: ", "kiosk: "), timeout=90)
        assert out["broker: "].startswith("mqtt://127.0.0.1:")
        server = out["server: "]
        assert server.startswith("http://127.0.0.1:")
        user, password = out["admin login: "].split(" / ")
        form = urllib.parse.urlencode({"username": user, "password": password}).encode()
        with urllib.request.urlopen(server + "/api/v1/auth/token", data=form, timeout=10) as resp:
            token = json.load(resp)["access_token"]
        # The first station's kiosk, as printed (contract): the page answers and the PIN signs in.
        kiosk = re.fullmatch(r"(http://127\.0\.0\.1:\d+/) \((.+), PIN (\d{4,8})\)", out["kiosk: "])
        assert kiosk is not None, out["kiosk: "]
        with urllib.request.urlopen(kiosk[1] + "api/state", timeout=10) as resp:
            state = json.load(resp)
        assert (state["station"], state["staff"]) == (kiosk[2], ["值班员"])
        sign_in = urllib.request.Request(
            kiosk[1] + "api/session", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"name": "值班员", "pin": kiosk[3]}).encode())
        with urllib.request.urlopen(sign_in, timeout=10) as resp:
            assert json.load(resp) == {"me": "值班员"}
        # Auto-press makes a device act every 2 s; its events reach the server.
        deadline = time.monotonic() + 60
        events: list[object] = []
        while not events and time.monotonic() < deadline:
            req = urllib.request.Request(
                server + "/api/v1/events", headers={"Authorization": "Bearer " + token}
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                body = json.load(resp)
            events = body["items"] if isinstance(body, dict) else body
            time.sleep(0.5)
        assert events, "no event reached the server"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        assert proc.stdout is not None
        proc.stdout.close()
    assert code == 0
