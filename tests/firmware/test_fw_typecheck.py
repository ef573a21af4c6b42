"""The firmware type-checks against the MicroPython stubs for the ESP32 (the device API)."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fw_runtimes import FIRMWARE, HERE


def stub_folder(dest: Path) -> tuple[Path, Path]:
    """Lay the stub packages out for mypy: device modules on MYPYPATH, the reduced stdlib as
    the typeshed. Returns (mypypath, typeshed dir)."""
    try:
        device = importlib.metadata.distribution("micropython-esp32-stubs")
        stdlib = importlib.metadata.distribution("micropython-stdlib-stubs")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("micropython-esp32-stubs is not installed (it is a dev dependency in pyproject.toml)")
    for dist, only_shed in ((device, False), (stdlib, True)):
        for item in dist.files or ():
            path = Path(str(item))
            keep = path.parts[0] == "_mpy_shed" if only_shed else path.suffix == ".pyi"
            if keep and not path.parts[0].endswith(".dist-info"):
                target = dest / path
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    os.symlink(Path(str(dist.locate_file(item))), target)
    typeshed = Path(str(stdlib.locate_file("stdlib"))).parent
    return dest, typeshed


def test_firmware_type_checks_against_micropython_stubs(tmp_path: Path) -> None:
    mypypath, typeshed = stub_folder(tmp_path / "stubs")
    sources = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, sources, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(HERE / "mypy-firmware.ini"),
            "--custom-typeshed-dir",
            str(typeshed),
            "--cache-dir",
            str(tmp_path / "cache"),
            ".",
        ],
        cwd=sources,
        env={**os.environ, "MYPYPATH": str(mypypath)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
