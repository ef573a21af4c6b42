"""The shared link against a real Mosquitto: plain, mqtts with a CA made here, and sessions."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttlink import (
    BrokerUrl,
    CleanStart,
    Connected,
    Disconnected,
    Link,
    LinkEvent,
    Received,
    Session,
    Subscribed,
    Subscription,
    Will,
)
from shouwang.mosquitto import Mosquitto, mosquitto_binary
from tests.server.broker_support import make_tls_files

REPO = Path(__file__).resolve().parents[2]
TLS_CONF = REPO / "tests" / "mosquitto" / "tls.conf.in"
WAIT = 10.0


def next_item(inbox: queue.Queue[LinkEvent]) -> LinkEvent:
    return inbox.get(timeout=WAIT)


def until(inbox: queue.Queue[LinkEvent], kind: type) -> list[LinkEvent]:
    """Items up to and including the first of ``kind``."""
    seen: list[LinkEvent] = []
    while not seen or not isinstance(seen[-1], kind):
        seen.append(next_item(inbox))
    return seen


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed (.ci/run installs it)")
    mosq = Mosquitto(tmp_path / "tls-broker", template=TLS_CONF)
    make_tls_files(mosq.workdir)  # ca.pem, broker.pem and broker.key, as tls.conf.in names them
    with mosq:
        yield mosq


def test_connect_subscribe_and_receive_as_typed_items(broker: Mosquitto) -> None:
    inbox: queue.Queue[LinkEvent] = queue.Queue()
    link = Link(BrokerUrl.parse(broker.url), "link-test-1", inbox, session=Session(0, CleanStart.ALWAYS),
                subscriptions=[Subscription("sw/v1/gw/+/ack")])
    link.start()
    try:
        assert until(inbox, Subscribed) == [Connected(session_present=False), Subscribed()]
        assert link.ready.is_set()
        link.publish("sw/v1/gw/gw-a/ack", b'{"seqs":[[1,3]]}')
        got = next_item(inbox)
        assert isinstance(got, Received)
        assert (got.topic, got.payload) == ("sw/v1/gw/gw-a/ack", b'{"seqs":[[1,3]]}')
        broker.stop()
        assert isinstance(next_item(inbox), Disconnected)
        assert not link.ready.is_set()
        broker.start()
        # paho reconnects with backoff and the link subscribes again.
        assert until(inbox, Subscribed)[-2:] == [Connected(session_present=False), Subscribed()]
    finally:
        link.stop()


def test_the_will_is_published_when_the_link_dies(broker: Mosquitto) -> None:
    watch: queue.Queue[LinkEvent] = queue.Queue()
    watcher = Link(BrokerUrl.parse(broker.url), "link-watcher", watch, session=Session(0, CleanStart.ALWAYS),
                   subscriptions=[Subscription("sw/v1/gw/gw-will/status")])
    inbox: queue.Queue[LinkEvent] = queue.Queue()
    link = Link(BrokerUrl.parse(broker.url), "link-will", inbox, session=Session(0, CleanStart.ALWAYS),
                will=Will("sw/v1/gw/gw-will/status", b'{"state":"offline"}', retain=False))
    watcher.start()
    link.start()
    try:
        until(watch, Subscribed)
        until(inbox, Subscribed)
        sock = link._client.socket()
        assert sock is not None
        sock.close()  # the connection drops without a DISCONNECT: the broker sends the will
        got = next_item(watch)
        assert isinstance(got, Received) and got.payload == b'{"state":"offline"}'
    finally:
        link.stop()
        watcher.stop()


def test_mqtts_with_the_ca_file_from_the_url(tls_broker: Mosquitto) -> None:
    ca = tls_broker.workdir / "ca.pem"
    url = BrokerUrl.parse("mqtts://127.0.0.1:%d?ca=%s" % (tls_broker.port, ca))
    inbox: queue.Queue[LinkEvent] = queue.Queue()
    link = Link(url, "link-tls", inbox, session=Session(0, CleanStart.ALWAYS),
                subscriptions=[Subscription("sw/v1/gw/gw-tls/cmd")])
    link.start()
    try:
        assert until(inbox, Subscribed) == [Connected(session_present=False), Subscribed()]
        link.publish("sw/v1/gw/gw-tls/cmd", b'{"id":"c1","op":"ping"}')
        got = next_item(inbox)
        assert isinstance(got, Received) and got.payload == b'{"id":"c1","op":"ping"}'
    finally:
        link.stop()


# paho leaves the socket of a failed TLS handshake to the garbage collector.
PAHO_TLS_SOCKET = "ignore:Exception ignored in.*SSLSocket:pytest.PytestUnraisableExceptionWarning"


@pytest.mark.filterwarnings(PAHO_TLS_SOCKET)
def test_mqtts_refuses_a_broker_signed_by_another_ca(tls_broker: Mosquitto, tmp_path: Path) -> None:
    (tmp_path / "other-ca").mkdir()
    other_ca, _, _ = make_tls_files(tmp_path / "other-ca", ca_name="someone else")
    url = BrokerUrl.parse("mqtts://127.0.0.1:%d?ca=%s" % (tls_broker.port, other_ca))
    inbox: queue.Queue[LinkEvent] = queue.Queue()
    link = Link(url, "link-tls-bad", inbox, session=Session(0, CleanStart.ALWAYS))
    link.start()
    try:
        assert next_item(inbox) == Disconnected("connection failed")
        assert not link.ready.is_set()
    finally:
        link.stop()


def test_plain_mqtt_to_a_tls_listener_never_connects(tls_broker: Mosquitto) -> None:
    inbox: queue.Queue[LinkEvent] = queue.Queue()
    link = Link(BrokerUrl.parse(tls_broker.url), "link-plain-to-tls", inbox,
                session=Session(0, CleanStart.ALWAYS))
    link.start()
    try:
        assert isinstance(next_item(inbox), Disconnected)
        assert not link.ready.is_set()
    finally:
        link.stop()


@pytest.mark.parametrize(
    ("clean_start", "present"), [(CleanStart.NEVER, True), (CleanStart.FIRST_CONNECT, False)]
)
def test_a_new_process_resumes_or_drops_the_old_session(broker: Mosquitto, clean_start: CleanStart,
                                                        present: bool) -> None:
    url = BrokerUrl.parse(broker.url)
    first: queue.Queue[LinkEvent] = queue.Queue()
    link = Link(url, "link-session", first, session=Session(3600, clean_start))
    link.start()
    until(first, Subscribed)
    link.stop()
    again: queue.Queue[LinkEvent] = queue.Queue()
    link = Link(url, "link-session", again, session=Session(3600, clean_start))
    link.start()
    try:
        assert next_item(again) == Connected(session_present=present)
    finally:
        link.stop()
