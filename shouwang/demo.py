"""`shouwang demo`: the whole system on this machine.

Mosquitto, the server on SQLite, and two virtual stations, each a gateway with a virtual panic
button and door sensor running the real firmware on ptys, and its kiosk page. Prints
`broker: mqtt://HOST:PORT` and `server: http://HOST:PORT` once everything is up, and one line per
station: `kiosk: http://HOST:PORT/ (<station name>, PIN <pin>)`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from gateway.kiosk.db import KioskDb
from gateway.kiosk.pins import PinStore
from gateway.outbox import utcnow
from hardware.virtual_board import VirtualBoard
from protocol.errors import ProtocolError
from protocol.pins import check_pin
from shouwang.errors import ShouwangError
from shouwang.local_stack import GatewayDevice, GatewayProcess, ServerProcess, write_gateway_config
from shouwang.mosquitto import INSTALL_HINT, Mosquitto, mosquitto_binary
from shouwang.processes import free_port, wait_port

log = logging.getLogger("shouwang.demo")
SEED = Path(__file__).with_name("demo_seed.json")
MODEL_APP = {"sw-panic-button": "panic_button", "sw-door-sensor": "door_sensor"}
STAFF = "值班员"  # the demo station's one staff member (the kiosk shows the name to tap)


@dataclass
class Station:
    gateway_id: str
    name: str
    boards: list[tuple[GatewayDevice, VirtualBoard]]
    process: GatewayProcess
    kiosk_port: int
    pin: str

    @property
    def kiosk_url(self) -> str:
        return "http://127.0.0.1:%d/" % self.kiosk_port


def _new_pin(rng: random.SystemRandom) -> str:
    """Six random digits that pass the PIN rule (no repeated digit only, no run)."""
    while True:
        pin = "%06d" % rng.randrange(1_000_000)
        try:
            return check_pin(pin)
        except ProtocolError:
            continue


def _kiosk_table(port: int, station: str) -> str:
    name = json.dumps(station, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    return '\n[kiosk]\nlisten = "127.0.0.1:%d"\nstation = %s\n' % (port, name)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="shouwang demo", description=__doc__)
    parser.add_argument(
        "--auto-press",
        type=float,
        default=float(os.environ.get("SHOUWANG_DEMO_AUTO_PRESS", "0") or 0),
        metavar="SECONDS",
        help="press or open a random virtual device every SECONDS (env SHOUWANG_DEMO_AUTO_PRESS)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="where the demo keeps its files")
    parser.add_argument(
        "--duration", type=float, default=0, help="stop after this many seconds (0 = until Ctrl-C)"
    )
    return parser.parse_args(argv)


def _stations(seed: dict[str, object], workdir: Path, mqtt_url: str) -> list[Station]:
    stations = []
    devices = seed["devices"]
    assert isinstance(devices, list)
    names = {st["code"]: st["name"] for st in seed["stations"]}  # type: ignore[attr-defined]
    rng = random.SystemRandom()
    for gw in seed["gateways"]:  # type: ignore[attr-defined]
        gw_id = gw["id"]
        name = names.get(gw["station"], gw_id)
        boards = []
        for dev in devices:
            if dev["gateway"] != gw_id:
                continue
            node = dev["id"].removeprefix("sn-")
            board = VirtualBoard(app=MODEL_APP[dev["model"]], node=node, state_dir=workdir / "boards" / node)
            board.start()
            boards.append((GatewayDevice(dev["id"], dev["model"], dev["name"]), board))
        config = write_gateway_config(
            workdir / gw_id / "gateway.toml",
            gw_id,
            workdir / gw_id,
            mqtt_url,
            [b.port for _, b in boards],
            [d for d, _ in boards],
            extra=_kiosk_table(kiosk_port := free_port(), name),
        )
        # The staff PIN is set the way a technician sets it (`shouwang gateway pin set`).
        pin = _new_pin(rng)
        db = KioskDb(workdir / gw_id)
        try:
            PinStore(db).set_pin(STAFF, pin, set_by="demo", now=utcnow())
        finally:
            db.close()
        process = GatewayProcess(config, workdir / gw_id / "gateway.log")
        process.start()
        stations.append(Station(gw_id, name, boards, process, kiosk_port, pin))
    return stations


def _auto_press(stations: list[Station], every: float, stop: threading.Event) -> None:
    rng = random.Random()
    while not stop.wait(every):
        station = rng.choice(stations)
        device, board = rng.choice(station.boards)
        if device.model == "sw-panic-button":
            log.info("auto: long press on %s (%s)", device.id, device.name)
            board.press(seconds=2.0)
        else:
            log.info("auto: door open and close on %s (%s)", device.id, device.name)
            board.open_door()
            if stop.wait(3.0):
                return
            board.close_door()


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if mosquitto_binary() is None:
        print("shouwang demo: %s" % INSTALL_HINT, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    workdir = args.data_dir or Path(tempfile.mkdtemp(prefix="shouwang-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    seed = json.loads(SEED.read_text(encoding="utf-8"))

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    broker = Mosquitto(workdir / "broker")
    server = ServerProcess(workdir / "server", broker.url, seed=SEED)
    stations: list[Station] = []
    try:
        broker.start()
        server.start()
        stations = _stations(seed, workdir, broker.url)
        for station in stations:
            wait_port("127.0.0.1", station.kiosk_port, timeout=30, process=station.process.proc)
            station.process.check_alive()
        print("broker: %s" % broker.url, flush=True)
        print("server: %s" % server.url, flush=True)
        print("console: %s/console/" % server.url, flush=True)
        print("admin login: admin / %s" % server.admin_password, flush=True)
        print("data: %s" % workdir, flush=True)
        print("duty alerts: mosquitto_sub -L '%s/sw/v1/duty/#' -v" % broker.url, flush=True)
        for station in stations:
            print("kiosk: %s (%s, PIN %s)" % (station.kiosk_url, station.name, station.pin), flush=True)
        if args.auto_press > 0:
            threading.Thread(target=_auto_press, args=(stations, args.auto_press, stop), daemon=True).start()
        deadline = time.monotonic() + args.duration if args.duration > 0 else None
        while not stop.wait(1.0):
            server.check_alive()
            for station in stations:
                station.process.check_alive()
            if deadline is not None and time.monotonic() > deadline:
                break
    except ShouwangError as exc:
        print("demo failed: %s" % exc, file=sys.stderr)
        return 1
    finally:
        for station in stations:
            station.process.stop()
            for _, board in station.boards:
                board.stop()
        server.stop()
        broker.stop()
    return 0
