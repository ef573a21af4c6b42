"""``shouwang server ...``: run, seed, migrate, broker accounts and the broker's files."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from server.broker_files import DEFAULT_MAX_PACKET, Listener, TlsFiles, parse_listener
from server.broker_login import broker_login
from server.clock import Clock
from server.errors import ConfigError, NotFound, ServerError
from server.settings import DEFAULT_DB, DEFAULT_MQTT, DEFAULT_PREFIX, Settings, check_db_url

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shouwang server", description="Shouwang central server")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the REST API and ingest MQTT")
    run.add_argument("--db", help="database URL (default $SHOUWANG_DB or sqlite:///shouwang.db)")
    run.add_argument("--mqtt", help="broker URL (default $SHOUWANG_MQTT or mqtt://127.0.0.1:1883)")
    run.add_argument("--listen", help="HOST:PORT (default $SHOUWANG_LISTEN or 127.0.0.1:8000)")
    run.add_argument("--seed", type=Path, help="seed file (JSON) applied at startup")
    run.add_argument(
        "--sia-listen",
        help="HOST:PORT of the SIA DC-09 receiver for alarm panels, TCP and UDP "
        "(default $SHOUWANG_SIA_LISTEN; none when unset)",
    )
    seed = sub.add_parser("seed", help="load regions, stations, gateways, devices, users")
    seed.add_argument("file", type=Path)
    seed.add_argument("--db")
    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--db")
    regions = sub.add_parser("import-regions", help="import regions from a GeoJSON FeatureCollection")
    regions.add_argument("file", type=Path)
    regions.add_argument("--db")
    creds = sub.add_parser("gateway-credentials", help="issue a broker password for a gateway")
    creds.add_argument("gateway")
    _broker_args(creds)
    server = sub.add_parser(
        "server-credentials", help="issue the broker account of one server instance (server.NAME)"
    )
    server.add_argument("name", help="this instance's name: 1-32 of a-z, 0-9, '-'")
    _broker_args(server)
    duty = sub.add_parser(
        "duty-credentials", help="issue a read-only broker account for a region subtree's duty room"
    )
    duty.add_argument("region", help="region path such as c01/t03, or / for the whole tree")
    _broker_args(duty)
    conf = sub.add_parser(
        "broker-config", help="write Mosquitto's config snippet, passwd and acl into --auth-dir"
    )
    _broker_args(conf)
    conf.add_argument(
        "--listen", action="append", default=[], metavar="[HOST:]PORT", help="plain MQTT listener"
    )
    conf.add_argument("--tls-listen", metavar="[HOST:]PORT", help="MQTT over TLS listener")
    conf.add_argument("--tls-cert", type=Path, help="the broker's certificate (PEM, with its chain)")
    conf.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    conf.add_argument("--tls-ca", type=Path, help="CA to check client certificates with (optional)")
    conf.add_argument("--max-packet-size", type=int, default=DEFAULT_MAX_PACKET)
    return parser


def _broker_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db")
    parser.add_argument(
        "--auth-dir",
        type=Path,
        default=Path(auth_dir) if (auth_dir := os.environ.get("SHOUWANG_MQTT_AUTH_DIR")) else None,
        help="rewrite Mosquitto's passwd and acl files here (default $SHOUWANG_MQTT_AUTH_DIR)",
    )
    parser.add_argument("--prefix", default=os.environ.get("SHOUWANG_MQTT_PREFIX") or DEFAULT_PREFIX)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # Alembic narrates every plugin it loads; only its problems matter here.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if args.command == "run":
            return _run(
                Settings.load(
                    db_url=args.db,
                    mqtt_url=args.mqtt,
                    listen=args.listen,
                    seed_file=args.seed,
                    sia_listen=args.sia_listen,
                )
            )
        # Schema and seed work needs no secret and no broker, only the database.
        db_url = check_db_url(args.db or os.environ.get("SHOUWANG_DB") or DEFAULT_DB)
        if args.command == "seed":
            return _seed(db_url, args.file)
        if args.command == "import-regions":
            return _import_regions(db_url, args.file)
        if args.command in BROKER_COMMANDS:
            return _broker_command(db_url, args)
        return _migrate(db_url)
    except ServerError as exc:
        print("shouwang server: %s" % exc, file=sys.stderr)
        return 2


def _run(settings: Settings) -> int:
    import uvicorn

    from server.app import create_app

    host, port = settings.listen_addr
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)
    return 0


def _seed(db_url: str, path: Path) -> int:
    from server.db.engine import Database
    from server.db.migrate import upgrade
    from server.seed import apply_seed, load_seed_file

    data = load_seed_file(path)
    db = Database.open(db_url)
    try:
        upgrade(db.engine)
        with db.write() as session:
            counts = apply_seed(session, data)
    finally:
        db.close()
    print("seeded: %s" % ", ".join("%s=%d" % kv for kv in counts.items()))
    return 0


def _migrate(db_url: str) -> int:
    from server.db.engine import Database
    from server.db.migrate import upgrade

    db = Database.open(db_url)
    try:
        upgrade(db.engine)
    finally:
        db.close()
    return 0


def _import_regions(db_url: str, path: Path) -> int:
    import json

    from server.data.regions import import_geojson
    from server.db.engine import Database
    from server.db.migrate import upgrade
    from server.errors import Invalid

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid("cannot read %s: %s" % (path, exc)) from None
    db = Database.open(db_url)
    try:
        upgrade(db.engine)
        with db.write() as session:
            regions = import_geojson(session, doc)
    finally:
        db.close()
    print("imported %d regions" % len(regions))
    return 0


BROKER_COMMANDS = ("gateway-credentials", "server-credentials", "duty-credentials", "broker-config")


def _broker_command(db_url: str, args: argparse.Namespace) -> int:
    """Issue an account (shown once: the client's config needs it) and rewrite the files."""
    from server.broker_files import write_config
    from server.clock import system_clock
    from server.db.engine import Database
    from server.db.migrate import upgrade
    from server.mqtt_auth import write_auth_files

    if args.auth_dir is None and args.command == "broker-config":
        raise ConfigError("broker-config needs --auth-dir (or SHOUWANG_MQTT_AUTH_DIR)")
    listeners = _listeners(args) if args.command == "broker-config" else []
    db = Database.open(db_url)
    try:
        upgrade(db.engine)
        with db.write() as session:
            login = _issue(session, args, system_clock)
            if args.auth_dir is not None:
                auth_dir = args.auth_dir.resolve()
                # The running server's own account, when it still comes from its environment.
                own = broker_login(os.environ, os.environ.get("SHOUWANG_MQTT") or DEFAULT_MQTT)
                if listeners:
                    print("wrote %s" % write_config(auth_dir, listeners, args.max_packet_size))
                write_auth_files(session, auth_dir, args.prefix, *(own or (None, None)))
    finally:
        db.close()
    if login is not None:
        print("username=%s\npassword=%s" % login)
    return 0


def _issue(session: Session, args: argparse.Namespace, clock: Clock) -> tuple[str, str] | None:
    from server.data.regions import region_by_path
    from server.db.models import Gateway
    from server.mqtt_auth import issue_credentials, issue_duty_account, issue_server_account

    by = "cli:%s" % getpass.getuser()
    if args.command == "gateway-credentials":
        gw = session.get(Gateway, args.gateway)
        if gw is None:
            raise NotFound("gateway %s is not registered" % args.gateway)
        password = issue_credentials(gw)
        session.flush()
        return args.gateway, password
    if args.command == "server-credentials":
        return issue_server_account(session, args.name, by, clock())
    if args.command == "duty-credentials":
        path = args.region.strip("/") or None
        return issue_duty_account(session, region_by_path(session, path), by, clock())
    return None


def _listeners(args: argparse.Namespace) -> list[Listener]:
    listeners = [Listener(port, host) for host, port in map(parse_listener, args.listen)]
    if args.tls_listen:
        if args.tls_cert is None or args.tls_key is None:
            raise ConfigError("--tls-listen needs --tls-cert and --tls-key")
        host, port = parse_listener(args.tls_listen)
        listeners.append(
            Listener(
                port,
                host,
                TlsFiles(
                    args.tls_cert.resolve(),
                    args.tls_key.resolve(),
                    args.tls_ca.resolve() if args.tls_ca else None,
                ),
            )
        )
    if not listeners:
        raise ConfigError("give the broker a listener: --listen [HOST:]PORT and/or --tls-listen")
    return listeners


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
