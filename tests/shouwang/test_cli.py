"""The `shouwang` command: usage, exit codes, broken pipes, missing extras, no Mosquitto."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from shouwang import mosquitto
from shouwang.cli import BROKEN_PIPE, USAGE, main

PYTHON_M = [sys.executable, "-m", "shouwang"]


def test_console_script_is_the_cli_main() -> None:
    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "shouwang"]
    assert script.value == "shouwang.cli:main"
    assert script.load() is main


def test_no_arguments_prints_usage_to_stderr_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert capsys.readouterr() == (("", USAGE))


def test_help_prints_usage_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert capsys.readouterr() == ((USAGE, ""))


def test_unknown_command_names_it_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sever", "run"]) == 2
    assert capsys.readouterr() == ("", "shouwang: unknown command 'sever'\n\n" + USAGE)


def test_no_arguments_as_a_process() -> None:
    proc = subprocess.run(PYTHON_M, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", USAGE)


def test_help_into_a_closed_pipe_ends_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write fails with EPIPE
    try:
        proc = subprocess.run([*PYTHON_M, "-h"], stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (BROKEN_PIPE, b"")


def test_help_piped_into_head_prints_one_line_and_no_traceback() -> None:
    script = Path(sys.executable).with_name("shouwang")
    proc = subprocess.run(
        ["bash", "-c", '"$0" -h | head -1', str(script)], capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, USAGE.splitlines()[0] + "\n", "")


@pytest.mark.parametrize(
    ("argv", "blocked", "extra"),
    [
        (["server", "migrate", "--db", "sqlite:///{tmp}/server.db"], "sqlalchemy", "server"),
        (["gateway", "run", "--config", "{tmp}/gateway.toml"], "paho", "gateway"),
    ],
    ids=["server", "gateway"],
)
def test_a_missing_extra_is_named_with_the_install_command(
    tmp_path: Path, argv: list[str], blocked: str, extra: str
) -> None:
    # The interpreter refuses to import the blocked distribution, as on an install without it.
    code = "import sys; sys.modules[%r] = None; from shouwang.cli import main; sys.exit(main(%r))" % (
        blocked,
        [a.format(tmp=tmp_path) for a in argv],
    )
    (tmp_path / "gateway.toml").write_text(
        '[gateway]\nid = "gw-test-01"\ndata_dir = "%s"\n' % tmp_path, encoding="utf-8"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines()[-1] == (
        "shouwang %s: the module %r is not installed; install this role's extra: "
        "pip install 'shouwang[%s]'" % (argv[0], blocked, extra)
    )


def test_demo_without_mosquitto_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(mosquitto, "SBIN_DIRS", (str(tmp_path / "sbin"),))
    data = tmp_path / "demo"

    assert main(["demo", "--data-dir", str(data)]) == 2

    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        "shouwang demo: Mosquitto (the MQTT broker) is not installed: on Debian or Raspberry Pi OS "
        "run `sudo apt-get install mosquitto`; for other systems see https://mosquitto.org/download/\n",
    )
    assert not data.exists()  # stopped before starting anything


def test_demo_finds_mosquitto_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = mosquitto.mosquitto_binary()
    assert real is not None, "mosquitto is not installed (.ci/run installs it)"
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "mosquitto").symlink_to(real)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(mosquitto, "SBIN_DIRS", ())
    assert mosquitto.mosquitto_binary() == str(tmp_path / "bin" / "mosquitto")
