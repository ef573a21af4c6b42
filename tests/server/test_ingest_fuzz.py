"""Property-based test of MQTT ingest (hypothesis, derandomized and bounded for CI): the
server's handling of one message on a gateway's events topic, on real SQLite and PostgreSQL,
publishing its acks to a real Mosquitto.

Whatever the payload, no exception escapes the handler. A payload that is not a batch is
refused whole; in a batch, every event is either refused on its own (counted, not acked) or
taken and acked (the ack is the gateway's licence to forget it), and a good alarm beside any
neighbour is always stored under its own id.
"""

from __future__ import annotations

import itertools
import json
import queue
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from protocol.errors import ProtocolError
from protocol.payloads import decode_events
from protocol.topics import Topics
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import EventRow
from server.ingest.mqtt import Inbound, MqttLink
from server.ingest.worker import IngestWorker
from server.metrics import Metrics
from server.seed import apply_seed
from shouwang.mosquitto import Mosquitto, mosquitto_binary
from tests.conftest import TEST_BROKER_CONF
from tests.databases import KINDS, database_url
from tests.protocol.test_fuzz_event import GOOD, MAYBE_EVENT
from tests.server.conftest import SEED
from tests.server.srv_support import T0, FakeClock

FUZZ = settings(max_examples=100, derandomize=True, database=None, deadline=None)
TOPIC = "sw/v1/gw/gw-dongcun-01/events"
# The good alarm's seqs, far from anything the generated neighbours use.
GOOD_SEQS = itertools.count(9_000_000_000_000_000_000)


@dataclass
class Ingest:
    db: Database
    worker: IngestWorker
    metrics: Metrics

    def handle(self, payload: bytes) -> Any:
        return self.worker.handle(Inbound(TOPIC, payload, time.monotonic()))

    def stored(self, ids: list[str]) -> set[str]:
        with self.db.read() as s:
            return set(s.scalars(select(EventRow.id).where(EventRow.id.in_(ids))))


@pytest.fixture(scope="module", params=KINDS)
def ingest(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed (.ci/run installs it)")
    with database_url(request.param, tmp_path_factory.mktemp("db")) as url:
        yield from _running(url, tmp_path_factory)


def _running(url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    db = Database.open(url)
    try:
        upgrade(db.engine)
        with db.write() as s:
            apply_seed(s, SEED, T0)
        with Mosquitto(tmp_path_factory.mktemp("broker"), template=TEST_BROKER_CONF) as broker:
            topics = Topics()
            link = MqttLink(broker.url, "shouwang-fuzz-%s" % uuid.uuid4().hex[:8], topics, queue.Queue(), 5)
            link.start()
            try:
                assert link.wait_connected(10), "the ingest link did not connect to the broker"
                metrics = Metrics()
                yield Ingest(db, IngestWorker(db, link, topics, metrics, FakeClock()), metrics)
            finally:
                link.stop()
    finally:
        db.close()


@FUZZ
@given(st.binary(max_size=300))
@example(b"[" * 100_000)
@example(b"[1" + b"0" * 5000 + b"]")
@example(b"\xff\xfe[\x00]\x00")
@example(b"{}")
@example(b"[]")
def test_any_bytes_are_refused_whole_or_taken_event_by_event(ingest: Ingest, payload: bytes) -> None:
    try:
        batch = decode_events(payload, gateway="gw-dongcun-01")
    except ProtocolError:
        batch = None
    result = ingest.handle(payload)  # nothing escapes
    if batch is None or not batch.events:
        assert result is None
        return
    assert sorted(set(result.seqs)) == sorted({e.seq for e in batch.events})


@settings(FUZZ, max_examples=60)  # each example is a database transaction
@given(st.lists(MAYBE_EVENT, min_size=1, max_size=3), st.integers(min_value=0, max_value=3))
@example([{**GOOD, "id": "gw-dongcun-01:%d" % 2**63}], 0)
@example([{**GOOD, "id": "gw-dongcun-01:77", "device_seq": 2**63}], 1)
@example([{**GOOD, "id": "gw-dongcun-01:78", "data": {"x": float("nan")}}], 0)
@example([{**GOOD, "id": "gw-dongcun-01:79", "data": {"x": "\ud800"}}], 1)
@example([{**GOOD, "id": "gw-dongcun-01:80", "at": "0001-01-01T00:00:00+01:00"}], 0)
@example([{**GOOD, "id": "gw-dongcun-01:\u0661"}], 1)
def test_a_good_alarm_is_stored_beside_any_neighbour(ingest: Ingest, others: list[Any], where: int) -> None:
    good = {**GOOD, "id": "gw-dongcun-01:%d" % next(GOOD_SEQS), "kind": "panic", "priority": "alarm"}
    items = [*others[:where], good, *others[where:]]
    payload = json.dumps(items, allow_nan=True).encode("utf-8")
    batch = decode_events(payload, gateway="gw-dongcun-01")
    rejected_before = ingest.metrics.get("events_rejected")
    result = ingest.handle(payload)  # nothing escapes
    assert result is not None
    assert len(batch.events) + len(batch.rejected) == len(items)
    # Every event taken is acked; every event refused is counted, and not acked.
    assert sorted(set(result.seqs)) == sorted({e.seq for e in batch.events})
    assert ingest.metrics.get("events_rejected") - rejected_before == len(batch.rejected)
    # The good alarm is stored now, under the id it was sent with.
    assert good["id"] in result.new
    assert ingest.stored([good["id"]]) == {good["id"]}
