"""The `shouwang` command: one entry point, one subcommand per part of the system.

Each part owns its own argument parsing; this module only dispatches, and imports a part
only when it is asked for, so a gateway install never loads the server.
"""

from __future__ import annotations

import sys

USAGE = """usage: shouwang <command> [args]

commands:
  server ...    the central server (run, seed, migrate, ...); see `shouwang server --help`
  gateway ...   the station gateway (run, status, devices, pair, decode); see `shouwang gateway --help`
  demo          the whole system on this machine: broker, server, two virtual stations
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command == "server":
        from server.cli import main as server_main

        return server_main(rest)
    if command == "gateway":
        from gateway.cli import main as gateway_main

        return gateway_main(rest)
    if command == "demo":
        from hardware.demo import main as demo_main

        return demo_main(rest)
    print("shouwang: unknown command %r\n\n%s" % (command, USAGE), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
