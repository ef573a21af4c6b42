"""``shouwang server ...``: run, seed, migrate."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from server.errors import ServerError
from server.settings import DEFAULT_DB, DEFAULT_MQTT, DEFAULT_PREFIX, Settings, check_db_url, mqtt_login

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shouwang server", description="Shouwang central server")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the REST API and ingest MQTT")
    run.add_argument("--db", help="database URL (default $SHOUWANG_DB or sqlite:///shouwang.db)")
    run.add_argument("--mqtt", help="broker URL (default $SHOUWANG_MQTT or mqtt://127.0.0.1:1883)")
    run.add_argument("--listen", help="HOST:PORT (default $SHOUWANG_LISTEN or 127.0.0.1:8000)")
    run.add_argument("--seed", type=Path, help="seed file (JSON) applied at startup")
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
    creds.add_argument("--db")
    creds.add_argument("--auth-dir", type=Path, help="rewrite Mosquitto's passwd and acl files here")
    creds.add_argument("--prefix", default=DEFAULT_PREFIX)
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # Alembic narrates every plugin it loads; only its problems matter here.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if args.command == "run":
            return _run(
                Settings.load(db_url=args.db, mqtt_url=args.mqtt, listen=args.listen, seed_file=args.seed)
            )
        # Schema and seed work needs no secret and no broker, only the database.
        db_url = check_db_url(args.db or os.environ.get("SHOUWANG_DB") or DEFAULT_DB)
        if args.command == "seed":
            return _seed(db_url, args.file)
        if args.command == "import-regions":
            return _import_regions(db_url, args.file)
        if args.command == "gateway-credentials":
            return _credentials(db_url, args.gateway, args.auth_dir, args.prefix)
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

    from server.db.engine import Database
    from server.db.migrate import upgrade
    from server.errors import Invalid
    from server.regions import import_geojson

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


def _credentials(db_url: str, gateway: str, auth_dir: Path | None, prefix: str) -> int:
    from server.db.engine import Database
    from server.db.migrate import upgrade
    from server.db.models import Gateway
    from server.errors import NotFound
    from server.mqtt_auth import issue_credentials, write_auth_files

    db = Database.open(db_url)
    try:
        upgrade(db.engine)
        with db.write() as session:
            gw = session.get(Gateway, gateway)
            if gw is None:
                raise NotFound("gateway %s is not registered" % gateway)
            password = issue_credentials(gw)
            session.flush()
            if auth_dir is not None:
                # The server's own account comes from its broker URL (mqtt://user:pass@host).
                user = mqtt_login(os.environ.get("SHOUWANG_MQTT") or DEFAULT_MQTT)
                write_auth_files(
                    session, auth_dir, prefix, user[0] if user else None, user[1] if user else None
                )
    finally:
        db.close()
    # The only time the password is shown: the gateway's config needs it.
    print("username=%s\npassword=%s" % (gateway, password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
