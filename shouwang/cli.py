"""The `shouwang` command: one entry point, one subcommand per part of the system.

Each part owns its own argument parsing; this module only dispatches, and imports a part
only when it is asked for, so a gateway install never loads the server.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

USAGE = """usage: shouwang <command> [args]

commands:
  server ...    the central server (run, seed, migrate, ...); see `shouwang server --help`
  gateway ...   the station gateway (run, status, devices, pair, decode); see `shouwang gateway --help`
  demo          the whole system on this machine: Mosquitto, server, two virtual stations
"""

# The pip extra each command needs beyond the base install.
EXTRAS = {"server": "server", "gateway": "gateway", "demo": "gateway,server"}
PROJECT_PACKAGES = frozenset(
    {"protocol", "firmware", "hardware", "mqttlink", "gateway", "server", "shouwang"}
)
# Exit status of a command whose reader went away (as a shell reports SIGPIPE: 128 + 13).
BROKEN_PIPE = 141


def _part(command: str) -> Callable[[list[str]], int] | None:
    if command == "server":
        from server.cli import main as server_main

        return server_main
    if command == "gateway":
        from gateway.cli import main as gateway_main

        return gateway_main
    if command == "demo":
        from shouwang.demo import main as demo_main

        return demo_main
    return None


def _dispatch(args: list[str]) -> int:
    if not args:
        print(USAGE, end="", file=sys.stderr)
        return 2
    if args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    command, rest = args[0], args[1:]
    try:
        part = _part(command)
        if part is None:
            print("shouwang: unknown command %r\n\n%s" % (command, USAGE), end="", file=sys.stderr)
            return 2
        return part(rest)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing in PROJECT_PACKAGES:
            raise
        print(
            "shouwang %s: the module %r is not installed; install this role's extra: "
            "pip install 'shouwang[%s]'" % (command, missing, EXTRAS[command]),
            file=sys.stderr,
        )
        return 2


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _dispatch(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe (`shouwang -h | head -1`): end quietly. Point stdout at
        # /dev/null so the interpreter's last flush at exit does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    return code
