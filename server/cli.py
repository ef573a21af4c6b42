"""``shouwang server ...``: run, seed, migrate."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from server.errors import ServerError
from server.settings import DEFAULT_DB, Settings, check_db_url

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
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "run":
            return _run(
                Settings.load(db_url=args.db, mqtt_url=args.mqtt, listen=args.listen, seed_file=args.seed)
            )
        # Schema and seed work needs no secret and no broker, only the database.
        db_url = check_db_url(args.db or os.environ.get("SHOUWANG_DB") or DEFAULT_DB)
        if args.command == "seed":
            return _seed(db_url, args.file)
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


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
