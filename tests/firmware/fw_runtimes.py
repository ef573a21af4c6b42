"""Runs firmware scripts on real MicroPython (WebAssembly, under node) and on CPython, so
tests can require identical output from both."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hardware.shims import install

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIRMWARE = REPO / "firmware"
SCRIPTS = HERE / "scripts"
VECTORS = REPO / "tests" / "vectors"
MP_DATA = "/data"


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the firmware tests run MicroPython under node (CI installs it)")
    if not (HERE / "node_modules" / "@micropython" / "micropython-webassembly-pyscript").is_dir():
        pytest.fail("the MicroPython npm package is missing: run `npm ci --prefix tests/firmware`")
    return node


def script_names() -> list[str]:
    return sorted(p.stem for p in SCRIPTS.glob("*.py"))


def _prelude(data_dir: str, state_dir: str) -> str:
    return "DATA_DIR = %r\nSTATE_DIR = %r\n" % (data_dir, state_dir)


def run_micropython(
    names: list[str], data_files: dict[str, str], extra: list[tuple[str, str]] | None = None
) -> dict[str, tuple[str, str | None]]:
    """Run the named scripts of tests/firmware/scripts, then ``extra`` (name, source) pairs;
    ``data_files`` are written under /data, keys starting with "/" at that absolute path."""
    files: dict[str, str] = {}
    for path in sorted(FIRMWARE.glob("*.py")):
        files["/lib/" + path.name] = path.read_text()
    for folder in ("mplib", "scriptlib"):
        for path in sorted((HERE / folder).glob("*.py")):
            files["/lib/" + path.name] = path.read_text()
    for name, text in data_files.items():
        files[name if name.startswith("/") else MP_DATA + "/" + name] = text
    scripts = []
    for name in names:
        state = "/tmp/" + name
        source = (
            _prelude(MP_DATA, state)
            + "import os\nos.mkdir(STATE_DIR)\n"
            + (SCRIPTS / (name + ".py")).read_text()
        )
        scripts.append([name, source])
    scripts.extend([name, source] for name, source in extra or [])
    job = json.dumps({"files": files, "path": ["/lib"], "scripts": scripts})
    proc = subprocess.run(
        [node_binary(), str(HERE / "mprun.mjs")],
        input=job.encode(),
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail("MicroPython runner failed: %s" % proc.stderr.decode(errors="replace")[-2000:])
    results: dict[str, tuple[str, str | None]] = {}
    for line in proc.stdout.decode().splitlines():
        item = json.loads(line)
        results[item["name"]] = (item["out"], item["error"])
    return results


def run_cpython(name: str, data_dir: Path, state_dir: Path) -> str:
    install()
    scriptlib = str(HERE / "scriptlib")
    if scriptlib not in sys.path:
        sys.path.append(scriptlib)
    state_dir.mkdir(parents=True, exist_ok=True)
    source = _prelude(str(data_dir), str(state_dir)) + (SCRIPTS / (name + ".py")).read_text()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(source, name + ".py", "exec"), {"__name__": "__main__"})
    return buf.getvalue()
