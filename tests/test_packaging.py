"""The distribution: the dev lock pins everything pyproject.toml asks for, and the wheel holds
the data files the installed code reads, with per-role extras and the SPDX licence."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements" / "dev.lock"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.M)


def lock_pins(text: str) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def unpinned(pins: dict[str, str], requirements: list[str]) -> list[str]:
    """Requirements (other than the project's own extras) the pins do not satisfy."""
    bad = []
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name == "shouwang":
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        if name not in pins or not req.specifier.contains(pins[name], prereleases=True):
            bad.append("%s (lock: %s)" % (text, pins.get(name, "missing")))
    return bad


def test_the_lock_parser_reads_pins_and_reports_gaps() -> None:
    text = "alembic==1.20.1 \\\n    --hash=sha256:83\n    # via shouwang\npwdlib==0.3.1 \\\n"
    pins = lock_pins(text)
    assert pins == {"alembic": "1.20.1", "pwdlib": "0.3.1"}
    assert unpinned(pins, ["alembic>=1.13", "pwdlib[argon2]>=0.4", "zxcvbn>=4.4", "shouwang[server]"]) == [
        "pwdlib[argon2]>=0.4 (lock: 0.3.1)",
        "zxcvbn>=4.4 (lock: missing)",
    ]


def test_the_dev_lock_pins_every_declared_dependency() -> None:
    pins = lock_pins(LOCK.read_text(encoding="utf-8"))
    project = PYPROJECT["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    assert unpinned(pins, declared) == [], "refresh the lock: ./dev lock (see README)"


def test_the_dev_lock_is_hash_checked_and_names_no_local_path() -> None:
    text = LOCK.read_text(encoding="utf-8")
    pins = lock_pins(text)
    assert text.count("--hash=sha256:") >= len(pins)
    local = re.compile(r"file:/|^-e |^--|(^|\s)/\w")  # a path, an index or a link of one machine
    assert [line for line in text.splitlines() if local.search(line)] == []


@pytest.mark.slow
def test_the_wheel_holds_data_files_extras_and_licence(tmp_path: Path) -> None:
    # Built from a copy of the tracked files, without build isolation (setuptools is in the lock).
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode().split("\0")
    src = tmp_path / "src"
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
         "."],
        cwd=src,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("shouwang-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(zf.read(meta_name).decode())

    for data in [
        "shouwang/mosquitto.conf.in",
        "shouwang/demo_seed.json",
        "hardware/catalog/sw-panic-button.toml",
        "firmware/swmain.py",
        "server/migrations/script.py.mako",
        "gateway/deploy/gateway.example.toml",
        "gateway/kiosk/static/kiosk.html",
        "protocol/py.typed",
    ]:
        assert data in names, data
    assert not [n for n in names if n.startswith(("tests/", "bench/", "docs/"))]
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert sorted(meta.get_all("Provides-Extra")) == ["dev", "gateway", "postgres", "server"]
    by_extra: dict[str, set[str]] = {}
    for text in meta.get_all("Requires-Dist"):
        req = Requirement(text)
        extra = next((e for e in ("gateway", "server", "postgres", "dev") if req.marker and
                      req.marker.evaluate({"extra": e})), "")
        by_extra.setdefault(extra, set()).add(canonicalize_name(req.name))
    assert by_extra[""] == {"cryptography", "pydantic", "pyserial"}
    assert {"paho-mqtt", "bleak", "sqlite-utils"} <= by_extra["gateway"]
    assert by_extra["gateway"] & {"fastapi", "sqlalchemy", "alembic", "uvicorn"} == set()
    assert {"fastapi", "sqlalchemy", "alembic", "uvicorn", "pydantic-settings"} <= by_extra["server"]
