"""The whole system on one machine: server and gateway processes beside a Mosquitto
(:mod:`shouwang.mosquitto`).

Used by `shouwang demo`, the end-to-end tests and the benchmarks, so all three start the
system the same way an operator would: the real `shouwang` commands in their own processes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shouwang.errors import StackError
from shouwang.processes import free_port, terminate


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "shouwang", *args]


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


@dataclass
class GatewayDevice:
    id: str
    model: str
    name: str


def write_gateway_config(
    path: Path,
    gateway_id: str,
    data_dir: Path,
    mqtt_url: str,
    serial_ports: Iterable[str],
    devices: Iterable[GatewayDevice],
    extra: str = "",
) -> Path:
    lines = [
        "[gateway]",
        "id = %s" % _toml_str(gateway_id),
        "data_dir = %s" % _toml_str(str(data_dir)),
        "",
        "[mqtt]",
        "url = %s" % _toml_str(mqtt_url),
        "resend_after_s = 2.0",
        "",
    ]
    for port in serial_ports:
        lines += ["[[serial]]", "port = %s" % _toml_str(port), "baudrate = 115200", ""]
    for dev in devices:
        lines += [
            "[[devices]]",
            "id = %s" % _toml_str(dev.id),
            "name = %s" % _toml_str(dev.name),
            "model = %s" % _toml_str(dev.model),
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path


class _Process:
    def __init__(self, args: list[str], log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.args = args
        self.log_path = log_path
        self.env = dict(os.environ, **(env or {}))
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env
            )

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise StackError("%s exited with %s:\n%s" % (self.args[3:5], self.proc.returncode, tail))

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when power is cut."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class ServerProcess(_Process):
    def __init__(
        self,
        workdir: Path,
        mqtt_url: str,
        seed: Path | None = None,
        db_url: str | None = None,
        port: int | None = None,
        admin_password: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.db_url = db_url or "sqlite:///%s" % (workdir / "server.db")
        self.admin_password = admin_password or secrets.token_urlsafe(12)
        args = _command(
            "server", "run", "--db", self.db_url, "--mqtt", mqtt_url, "--listen", "127.0.0.1:%d" % self.port
        )
        if seed is not None:
            args += ["--seed", str(seed)]
        base_env = {
            "SHOUWANG_SECRET": secrets.token_urlsafe(32),
            "SHOUWANG_ADMIN_PASSWORD": self.admin_password,
        }
        base_env.update(env or {})
        super().__init__(args, workdir / "server.log", base_env)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout: float = 30.0) -> None:
        super().start()
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise StackError("server did not answer /healthz within %.0f s" % timeout)
            time.sleep(0.05)

    def token(self, username: str = "admin", password: str | None = None) -> str:
        form = urllib.parse.urlencode(
            {"username": username, "password": password or self.admin_password}
        ).encode()
        req = urllib.request.Request(self.url + "/api/v1/auth/token", data=form, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return str(json.load(resp)["access_token"])

    def get(self, path: str, token: str) -> Any:
        req = urllib.request.Request(self.url + path, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def post(self, path: str, token: str, body: Mapping[str, Any]) -> Any:
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)


class GatewayProcess(_Process):
    def __init__(self, config: Path, log_path: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__(_command("gateway", "run", "--config", str(config)), log_path, env)
