"""``shouwang gateway run|status|devices|pair|pin|decode``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from gateway.config import ENV_CONFIG, GatewaySettings, load_settings
from gateway.errors import GatewayError

log = logging.getLogger("gateway")
PID_FILE = "gateway.pid"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shouwang gateway", description="守望 station gateway")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(name: str, text: str, required: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=text, description=text)
        sp.add_argument("--config", default=os.environ.get(ENV_CONFIG),
                        help="TOML file (default: env %s)%s" % (ENV_CONFIG, "" if required else "; optional"))
        return sp

    with_config("run", "run the gateway until SIGTERM/SIGINT (SIGHUP reloads the device list)")
    with_config("status", "outbox backlog and configuration summary (JSON)")
    dev = with_config("devices", "allowed devices and unknown devices seen")
    dev.add_argument("--json", action="store_true", help="one JSON object per line")
    pair = with_config("pair", "add a device to the allowlist (interactive without --device)")
    pair.add_argument("--device", help="device id, e.g. ble-a4c1388d18b2 or rf-ev1527-045a42")
    pair.add_argument("--name", help="what staff will read, e.g. 东村 3 号 老人呼叫按钮")
    pair.add_argument("--kind", default="", help="event kind for single-code devices (panic, fire, ...)")
    pair.add_argument("--location", default="")
    pair.add_argument("--model", default="", help="catalog model, e.g. shelly-blu-button1")
    pair.add_argument("--key", default="", help="BTHome AES key (32 hex digits)")
    pair.add_argument("--listen", type=float, default=0.0, metavar="SECONDS",
                      help="first watch for this long what the running gateway hears, showing new devices")
    pin = with_config("pin", "staff PINs for the station's kiosk: set NAME, remove NAME, list")
    pin.add_argument("action", choices=("set", "remove", "list"))
    pin.add_argument("name", nargs="?", help="the staff member, as the kiosk shows the name (e.g. 王芳)")
    pin.add_argument("--pin-stdin", action="store_true",
                     help="read the PIN from the first line of stdin instead of asking twice")
    dec = with_config("decode", "decode raw input from stdin, one item per line, to JSON lines",
                      required=False)
    dec.add_argument("--transport", required=True, choices=("ble", "rflink", "rtl433", "serial"))
    dec.add_argument("--address", help="BLE MAC of the sender (ble)")
    dec.add_argument("--key", help="BTHome AES key, 32 hex digits (ble)")
    return p


def _settings(config: str | None) -> GatewaySettings:
    if not config:
        raise GatewayError("no config file (--config or %s)" % ENV_CONFIG)
    return load_settings(config)


def _run(settings: GatewaySettings) -> int:
    from gateway.clock_shift import ClockShift
    from gateway.daemon import Gateway

    stop = threading.Event()
    reload = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            reload.set()
        else:
            stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    shift = ClockShift.from_env()  # set by the chaos tests only
    gw = Gateway(settings) if shift is None else Gateway(settings, clock=shift.time, now=shift.now)
    gw.start()
    pid_file = settings.data_dir / PID_FILE
    pid_file.write_text("%d\n" % os.getpid())
    try:
        while not stop.wait(0.5):
            if reload.is_set():
                reload.clear()
                try:
                    gw.reload()
                except GatewayError as exc:
                    log.error("reload failed, keeping the old device list: %s", exc)
    finally:
        log.info("stopping")
        gw.stop()
        pid_file.unlink(missing_ok=True)
    return 0


def _signal_running(settings: GatewaySettings) -> bool:
    try:
        pid = int((settings.data_dir / PID_FILE).read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return False
    return True


def _listen(settings: GatewaySettings, seconds: float) -> None:
    from gateway.tools import unknown_devices

    print("请触发要配对的设备（按键、开门）… / trigger the device now (%.0f s)" % seconds)
    shown: set[str] = {row["device"] for row in unknown_devices(settings)}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for row in unknown_devices(settings):
            if row["device"] not in shown:
                shown.add(row["device"])
                print("  new: %s (%s) %s" % (row["device"], row.get("transport", ""), row.get("detail", "")))
        time.sleep(0.5)


def _pair(args: argparse.Namespace, settings: GatewaySettings) -> int:
    from gateway.catalog import load_device_catalog
    from gateway.pairing import add_device, models_for
    from gateway.tools import unknown_devices

    assert settings.source is not None
    device, name = args.device, args.name
    kind, location, model, key = args.kind, args.location, args.model, args.key
    if not device and args.listen > 0:
        _listen(settings, args.listen)
    if not device:
        seen = unknown_devices(settings)
        if not seen:
            print("没有发现未登记的设备 / no unknown devices seen yet: "
                  "trigger the device while the gateway runs")
            return 1
        for i, row in enumerate(seen, 1):
            print("%2d  %-28s %-7s seen %sx  %s" % (i, row["device"], row.get("transport", ""),
                                                    row.get("count", "?"), row.get("detail", "")))
        choice = input("选择设备编号 / pick a number: ").strip()
        if not choice.isdigit() or not 1 <= int(choice) <= len(seen):
            print("error: no such number", file=sys.stderr)
            return 2
        device = seen[int(choice) - 1]["device"]
        name = name or input("名称 / name: ").strip()
        models = ", ".join(models_for(device, load_device_catalog(())))
        model = model or input("型号 / model (%s; empty = none): " % models).strip()
        kind = kind or input("报警类型 / kind (panic, fire, door_open... empty = by model): ").strip()
        location = location or input("位置 / location: ").strip()
    if not name:
        print("error: a name is required", file=sys.stderr)
        return 2
    add_device(settings.source, device, name, kind=kind, location=location, model=model, key=key)
    told = _signal_running(settings)
    print("paired %s (%s)%s" % (device, name, "; running gateway reloaded" if told else ""))
    return 0


def _pin(args: argparse.Namespace, settings: GatewaySettings) -> int:
    """Staff PINs, kept hashed in the data directory's kiosk.db; the running gateway reads them
    at each sign-in, so no restart is needed."""
    import getpass

    from gateway.kiosk.db import MB, KioskDb
    from gateway.kiosk.pins import PinStore
    from gateway.outbox import utcnow

    kiosk = settings.kiosk
    db = KioskDb(settings.data_dir, **({"max_bytes": kiosk.max_db_mb * MB} if kiosk is not None else {}))
    try:
        pins = PinStore(db)
        if args.action == "list":
            for staff in pins.staff():
                print("%s\tset %s by %s" % (staff.name, staff.set_at, staff.set_by))
            return 0
        if not args.name:
            print("error: give the staff member's name", file=sys.stderr)
            return 2
        if args.action == "remove":
            pins.remove(args.name)
            print("PIN for %s removed" % args.name)
            return 0
        if args.pin_stdin:
            pin = sys.stdin.readline().strip()
        else:
            pin = getpass.getpass("PIN for %s (4-8 digits): " % args.name)
            if getpass.getpass("again: ") != pin:
                print("error: the two PINs differ", file=sys.stderr)
                return 2
        pins.set_pin(args.name, pin, set_by="cli:%s" % getpass.getuser(), now=utcnow())
        print("PIN for %s set%s" % (args.name, "" if kiosk is not None else
                                     " (this gateway has no [kiosk] table yet: it is kept for when it has)"))
        return 0
    finally:
        db.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "run":
            return _run(_settings(args.config))
        if args.command == "status":
            from gateway.tools import status_report

            print(json.dumps(status_report(_settings(args.config)), ensure_ascii=False, indent=1))
            return 0
        if args.command == "devices":
            from gateway.tools import device_rows

            for row in device_rows(_settings(args.config)):
                if args.json:
                    print(json.dumps(row, ensure_ascii=False))
                else:
                    label = row.get("name") or row.get("detail") or ""
                    print("%-28s %-8s %s" % (row["device"], row["status"], label))
            return 0
        if args.command == "pair":
            return _pair(args, _settings(args.config))
        if args.command == "pin":
            return _pin(args, _settings(args.config))
        if args.command == "decode":
            from gateway.tools import run_decode

            settings = load_settings(args.config) if args.config else None
            run_decode(args.transport, args.address, args.key, settings, sys.stdin, sys.stdout)
            return 0
    except GatewayError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    except (KeyboardInterrupt, EOFError):
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
