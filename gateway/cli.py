"""``shouwang gateway ...``: run the daemon and the technician's tools."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from gateway.config import ENV_CONFIG, load_settings
from gateway.errors import GatewayError

log = logging.getLogger("gateway")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shouwang gateway", description="守望 station gateway")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the gateway until SIGTERM/SIGINT")
    run.add_argument("--config", default=os.environ.get(ENV_CONFIG), help="TOML file (env %s)" % ENV_CONFIG)
    return p


def _run(config: str | None) -> int:
    if not config:
        print("error: no config file (--config or %s)" % ENV_CONFIG, file=sys.stderr)
        return 2
    from gateway.daemon import Gateway

    settings = load_settings(config)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    gw = Gateway(settings)
    gw.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        gw.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "run":
            return _run(args.config)
    except GatewayError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
