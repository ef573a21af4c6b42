"""Every firmware script runs on real MicroPython (node + WebAssembly) and on CPython, with
identical output, equal to the reviewed expected output in tests/firmware/expected/."""

from __future__ import annotations

from pathlib import Path

import pytest
from fw_runtimes import FIRMWARE, HERE, VECTORS, run_cpython, run_micropython, script_names

NAMES = script_names()


@pytest.fixture(scope="module")
def micropython_results() -> dict[str, tuple[str, str | None]]:
    data = {"serial_lines.json": (VECTORS / "serial_lines.json").read_text()}
    return run_micropython(NAMES, data)


@pytest.mark.parametrize("name", NAMES)
def test_same_output_on_micropython_and_cpython(
    name: str, micropython_results: dict[str, tuple[str, str | None]], tmp_path: Path
) -> None:
    mp_out, mp_error = micropython_results[name]
    assert mp_error is None, mp_error
    cpython_out = run_cpython(name, VECTORS, tmp_path / "state")
    assert mp_out, "no output from %s" % name
    assert mp_out == cpython_out
    expected = (HERE / "expected" / (name + ".txt")).read_text()
    assert cpython_out == expected


def test_every_firmware_module_ran_on_micropython() -> None:
    # All scripts share one interpreter; afterwards every firmware module must have been loaded.
    data = {"serial_lines.json": (VECTORS / "serial_lines.json").read_text()}
    probe = "import sys\nprint(' '.join(sorted(m for m in sys.modules if m.startswith('sw'))))"
    results = run_micropython(NAMES, data, [("modules", probe)])
    loaded = set(results["modules"][0].split())
    firmware = {p.stem for p in FIRMWARE.glob("sw*.py")}
    assert firmware - loaded == set()
