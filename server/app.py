"""The FastAPI application and its lifespan (migrations, bootstrap, MQTT ingest)."""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hardware.gsm_modem import GsmModem
from protocol.topics import Topics
from server.alerts import Alert
from server.api import (
    auth_routes,
    broker_accounts,
    cap,
    cases,
    commands,
    devices,
    events,
    exports,
    gateways,
    notify_rules,
    quarantine,
    regions,
    setup_state,
    sign_ins,
    station_pins,
    stations,
    stats,
    stream,
    users,
)
from server.api.errors import install_error_handlers
from server.api.setup_state import admin_exists
from server.auth import TokenSigner
from server.clock import Clock, system_clock
from server.console import mount_console
from server.data.users import ensure_user
from server.db.engine import Database
from server.db.migrate import upgrade
from server.deadlines import Escalator
from server.ingest.mqtt import Inbound, MqttLink
from server.ingest.worker import IngestWorker
from server.live import LiveHub
from server.live_feed import feed_consoles
from server.metrics import Metrics
from server.notify.outbox import NotifyConfig, write_notifications
from server.notify.relay import NotificationRelay
from server.notify.sender import Sender
from server.outbox import DUTY_ALERT, duty_alert_hook
from server.outbox import unsent as outbox_unsent
from server.publish import publish_alerts
from server.relay import MqttDutyAlerts, OutboxRelay
from server.retention import housekeep
from server.seed import apply_seed, load_seed_file
from server.services import Services
from server.settings import Settings
from server.sia.listener import PanelListener
from server.sia.receiver import PanelReceiver
from server.sia.supervision import PanelSupervisor, catalog_silences
from server.ticker import Ticker

log = logging.getLogger(__name__)

API = "/api/v1"
NO_ADMIN_WARNING = (
    "!" * 78,
    "!! NO ADMIN USER: nobody can sign in, create users or manage this server.",
    "!! Set SHOUWANG_ADMIN_PASSWORD (at least 10 characters) and restart, or add an admin",
    "!! with `shouwang server seed FILE`. The console's sign-in page says so too.",
    "!" * 78,
)


def bootstrap(db: Database, settings: Settings, now: datetime) -> None:
    """Schema, first admin and seed data: everything needed before serving."""
    upgrade(db.engine)
    with db.write() as session:
        if settings.admin_password is not None:
            ensure_user(session, "admin", settings.admin_password, "admin", None, now)
            log.info("user admin (role admin, whole tree) is ready")
        if settings.seed_file is not None:
            counts = apply_seed(session, load_seed_file(settings.seed_file), now)
            log.info("seed %s applied: %s", settings.seed_file, counts)
        if not admin_exists(session):
            for line in NO_ADMIN_WARNING:
                log.warning("%s", line)


def create_app(settings: Settings, *, clock: Clock = system_clock) -> FastAPI:
    inbox: queue.Queue[Inbound | None] = queue.Queue()
    topics = Topics(settings.mqtt_prefix, settings.mqtt_share_group)
    host, port = settings.mqtt_addr

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.open(settings.db_url)
        try:
            bootstrap(db, settings, clock())
        except BaseException:
            db.close()
            raise
        metrics = Metrics()
        notify_config = NotifyConfig(settings.notify_targets, settings.console_url)
        # Duty alerts leave through the outbox: written in the transaction of the case change,
        # sent by this relay after the commit, marked sent on the broker's PUBACK.
        outbox_relay = OutboxRelay(db, clock, settings.client_id(), metrics)
        write_duty_alerts = duty_alert_hook(outbox_relay.submit)

        def notify(session: Session, alerts: Sequence[Alert], now: datetime) -> None:
            write_duty_alerts(session, alerts, now)
            write_notifications(session, alerts, now, notify_config)

        modem = GsmModem(settings.sms_port) if settings.sms_port else None
        link = MqttLink(
            settings.mqtt_url,
            settings.client_id(),
            topics,
            inbox,
            settings.session_expiry,
            settings.mqtt_login,
        )
        outbox_relay.register(DUTY_ALERT, MqttDutyAlerts(link, topics, link.connected.is_set))
        worker = IngestWorker(db, link, topics, metrics, clock, settings.deadlines, inbox, on_alerts=notify)
        app.state.services = Services(
            settings, db, metrics, topics, TokenSigner(settings.secret), link, clock, on_alerts=notify
        )
        panels: PanelListener | None = None
        supervisor: PanelSupervisor | None = None
        if settings.sia_addr is not None:
            # First, so that a port already taken stops the start before any thread runs.
            try:
                supervisor = PanelSupervisor(
                    db, clock, settings.deadlines, catalog_silences(), on_alerts=notify
                )
                receiver = PanelReceiver(
                    db, link, topics, metrics, clock, settings.deadlines, on_alerts=notify
                )
                panels = PanelListener(receiver, *settings.sia_addr)
                panels.start()
            except BaseException:
                db.close()
                raise
        app.state.panels = panels
        app.state.panel_supervisor = supervisor
        # Consoles hear of changes through the duty alerts on MQTT, whichever instance made them.
        live = LiveHub()
        live.bind(asyncio.get_running_loop())
        feed_consoles(link, topics, live)
        app.state.live = live
        escalator = Escalator(db, clock, settings.deadlines, on_alerts=notify, metrics=metrics)
        relay = NotificationRelay(
            db,
            clock,
            Sender(modem, metrics),
            metrics,
            notify,
            deadlines=settings.deadlines,
            interval=settings.notify_interval or 0.5,
            publish=lambda alerts: publish_alerts(link, topics, metrics, alerts),
            busy=lambda: inbox.qsize() > 0,
        )
        app.state.notify_relay = relay
        app.state.outbox_relay = outbox_relay
        app.state.link = link
        app.state.worker = worker
        app.state.escalator = escalator
        outbox_relay.start()
        worker.start()
        link.start()
        if settings.deadline_interval > 0:
            escalator.start(lambda alerts: publish_alerts(link, topics, metrics, alerts))
        if supervisor is not None and settings.deadline_interval > 0:
            supervisor.start(lambda alerts: publish_alerts(link, topics, metrics, alerts))
        if settings.notify_interval > 0:
            relay.start()
        housekeeping = Ticker("housekeeping", 60.0, lambda: housekeep(db, clock(), metrics))
        if settings.deadline_interval > 0:
            housekeeping.start()
        log.info("server ready: database %s, MQTT %s:%d", db.engine.url.render_as_string(), host, port)
        try:
            yield
        finally:
            if panels is not None:
                panels.stop()
            if supervisor is not None:
                supervisor.stop()
            escalator.stop()
            housekeeping.stop()
            live.close()
            relay.stop()
            if modem is not None:
                modem.close()
            worker.stop()
            outbox_relay.stop()
            link.stop()
            db.close()

    app = FastAPI(
        title="Shouwang 守望 server",
        version="1",
        description="Community alarm network: events, cases and the duty-room workflow.",
        lifespan=lifespan,
    )

    install_error_handlers(app)
    # One router per resource, all under /api/v1.
    resources = (
        auth_routes,
        regions,
        stations,
        gateways,
        station_pins,
        commands,
        devices,
        users,
        sign_ins,
        broker_accounts,
        cases,
        events,
        stats,
        exports,
        cap,
        stream,
        notify_rules,
        quarantine,
        setup_state,
    )
    for resource in resources:
        app.include_router(resource.router, prefix=API)

    # The duty-room console is served by the same process, from the same origin as the API.
    mount_console(app)

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request) -> JSONResponse:
        """200 when the alarm path works; 503 naming each part that does not (``failing``)."""
        svc: Services = request.app.state.services
        link: MqttLink = request.app.state.link
        unsent: int | None = None
        try:
            with svc.db.read() as session:
                unsent = outbox_unsent(session)
        except SQLAlchemyError as exc:
            log.error("health check: database: %s", exc)
        parts = (("database", unsent is not None), ("mqtt", link.connected.is_set()))
        failing = [name for name, ok in parts if not ok]
        body = {
            "status": "failing" if failing else "ok",
            "failing": failing,
            "database": "database" not in failing,
            "mqtt": "mqtt" not in failing,
            "ingest_queue": inbox.qsize(),
            "outbox_unsent": unsent,
        }
        return JSONResponse(body, status_code=503 if failing else 200)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics_text(request: Request) -> PlainTextResponse:
        svc: Services = request.app.state.services
        return PlainTextResponse(svc.metrics.render(), media_type="text/plain; version=0.0.4")

    return app

