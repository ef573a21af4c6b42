"""The single ingest worker: one batch, one transaction (events, cases, outbox rows), commit,
then the ack. Alerts reach the outbox through ``on_alerts`` in that transaction; the relay sends
them after the commit (``publish_alerts`` publishes only alerts no outbox holds: tools, tests)."""

from __future__ import annotations

import logging
import queue
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from protocol.actions import decode_actions, encode_action_results
from protocol.errors import ProtocolError
from protocol.payloads import CommandResult, GatewayStatus, decode_events, encode_ack
from protocol.topics import Topics
from server.alerts import Alert, AlertHook, no_hook
from server.clock import Clock, system_clock
from server.commands import record_result
from server.crashpoints import INGEST_COMMITTED, crash_after_commit
from server.db.engine import Database
from server.db.models import Gateway
from server.deadlines import gateway_back
from server.ingest.dead_letters import record_dead_letter
from server.ingest.mqtt import Inbound
from server.ingest.store import StoreResult, store_events
from server.metrics import Metrics
from server.publish import Publisher, dumps, publish_alerts
from server.settings import Deadlines
from server.station_actions import apply_station_actions

log = logging.getLogger(__name__)


class IngestWorker:
    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        topics: Topics,
        metrics: Metrics,
        clock: Clock = system_clock,
        deadlines: Deadlines | None = None,
        inbox: queue.Queue[Inbound | None] | None = None,
        on_alerts: AlertHook = no_hook,
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.topics = topics
        self.metrics = metrics
        self.clock = clock
        self.deadlines = deadlines or Deadlines()
        self.inbox: queue.Queue[Inbound | None] = inbox if inbox is not None else queue.Queue()
        self.on_alerts = on_alerts
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self.inbox.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            try:
                self.handle(item)
            except Exception:
                # The worker must outlive any one bad message; the gateway resends what we
                # did not ack.
                log.exception("ingest failed on a message from %s", item.topic)
                self.metrics.inc("ingest_errors")

    def handle(self, item: Inbound) -> StoreResult | None:
        try:
            parsed = self.topics.parse_gateway(item.topic)
        except ProtocolError as exc:
            self.metrics.inc("events_rejected", reason=exc.reason)
            log.warning("message on unexpected topic %s dropped: %s", item.topic, exc)
            return None
        if parsed.channel == "events":
            return self._events(parsed.gateway, item)
        if parsed.channel == "status":
            self._status(parsed.gateway, item.payload)
        elif parsed.channel == "cmd/result":
            self._command_result(parsed.gateway, item.payload)
        elif parsed.channel == "actions":
            self._station_actions(parsed.gateway, item.payload)
        return None

    def _events(self, gateway: str, item: Inbound) -> StoreResult | None:
        try:
            batch = decode_events(item.payload, gateway=gateway)
        except ProtocolError as exc:
            self._dead_letter(gateway, item, exc)
            return None
        for index, why in batch.rejected:
            # Not acked: the gateway keeps the event, and a person can see why in its log,
            # in ours and in the counter.
            self.metrics.inc("events_rejected", reason=why.reason)
            log.warning("event %d of a batch from %s rejected: %s", index, gateway, why)
        if not batch.events:
            return None
        try:
            with self.db.write() as session:
                crash_after_commit(session, INGEST_COMMITTED)
                now = self.clock()
                result = store_events(session, batch.events, now, self.deadlines)
                self.on_alerts(session, result.alerts, now)
        except SQLAlchemyError as exc:
            # Nothing is acked, so the gateway keeps the events and sends them again.
            self.metrics.inc("ingest_errors")
            log.error("could not store %d events from %s: %s", len(batch.events), gateway, exc)
            return None
        self.metrics.observe_latency(time.monotonic() - item.received)
        self.metrics.inc("events_ingested", len(result.new))
        self.metrics.inc("events_duplicate", len(result.duplicates))
        self.metrics.inc("cases_opened", len(result.cases_opened))
        if result.priority_corrected:
            self.metrics.inc("events_priority_corrected", result.priority_corrected)
        # Only now, after the commit: the ack is the gateway's licence to forget the events.
        if result.quarantined:
            self.metrics.inc("events_quarantined", len(result.quarantined))
        if result.reassigned:
            self.metrics.inc("events_seq_reused", len(result.reassigned))
        self.publisher.publish(self.topics.ack(gateway), encode_ack(result.seqs, result.high_water))
        self.metrics.inc("acks_published")
        self._alerts(result.alerts)
        return result

    def _dead_letter(self, gateway: str, item: Inbound, exc: ProtocolError) -> None:
        """A payload nothing can be read from: refused whole, kept in the dead-letter table."""
        self.metrics.inc("events_rejected", reason=exc.reason)
        log.warning("payload of %d bytes from %s refused whole: %s", len(item.payload), gateway, exc)
        try:
            with self.db.write() as session:
                record_dead_letter(
                    session, gateway, item.topic, item.payload, exc.reason, str(exc), self.clock()
                )
        except SQLAlchemyError as db_exc:
            self.metrics.inc("ingest_errors")
            log.error("could not keep the refused payload from %s: %s", gateway, db_exc)
            return
        self.metrics.inc("payloads_dead_lettered", reason=exc.reason)

    def _alerts(self, alerts: list[Alert]) -> None:
        publish_alerts(self.publisher, self.topics, self.metrics, alerts)

    def _station_actions(self, gateway: str, payload: bytes) -> None:
        """Staff actions from a station's kiosk: applied, committed, then answered."""
        try:
            batch = decode_actions(payload, gateway)
        except ProtocolError as exc:
            self.metrics.inc("events_rejected", reason="actions_" + exc.reason)
            log.warning("station actions from %s dropped: %s", gateway, exc)
            return
        try:
            outcome = apply_station_actions(self.db, gateway, batch, self.clock(), self.deadlines,
                                            self.on_alerts)
        except SQLAlchemyError as exc:
            # No result: the gateway keeps the actions and sends them again; those already
            # committed are answered from their row then.
            self.metrics.inc("ingest_errors")
            log.error("could not apply station actions from %s: %s", gateway, exc)
            return
        self.metrics.inc("station_actions", len(outcome.results))
        for cmd in outcome.commands:
            self.publisher.publish(self.topics.cmd(cmd.gateway), dumps(cmd.payload))
            self.metrics.inc("commands_published")
        self._alerts(outcome.alerts)
        if outcome.results:
            self.publisher.publish(self.topics.actions_ack(gateway), encode_action_results(outcome.results))

    def _command_result(self, gateway: str, payload: bytes) -> None:
        try:
            result = CommandResult.decode(payload)
        except ProtocolError as exc:
            self.metrics.inc("events_rejected", reason="cmd_" + exc.reason)
            return
        with self.db.write() as session:
            if not record_result(session, gateway, result, self.clock()):
                self.metrics.inc("events_rejected", reason="cmd_unknown")

    def _status(self, gateway: str, payload: bytes) -> None:
        try:
            status = GatewayStatus.decode(payload)
        except ProtocolError as exc:
            self.metrics.inc("events_rejected", reason="status_" + exc.reason)
            return
        with self.db.write() as session:
            gw = session.get(Gateway, gateway)
            if gw is None:
                log.info("status from unknown gateway %s: %s", gateway, status.state)
                return
            now = self.clock()
            # Retained status comes again at every reconnect: only a change moves the clock,
            # or a restart would forgive a gateway that has been offline for hours.
            changed = gw.status != status.state
            if changed:
                gw.status_at = now
            gw.status = status.state
            gw.status_data = status.extra
            alerts = gateway_back(session, gateway, now) if changed and status.state == "online" else []
            self.on_alerts(session, alerts, now)
        self._alerts(alerts)
