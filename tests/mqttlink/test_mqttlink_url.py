"""Broker URLs in, whole ``BrokerUrl`` objects (or the refusal) out."""

from __future__ import annotations

import pytest

from mqttlink import BrokerUrl, UrlError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1883", BrokerUrl("127.0.0.1", 1883)),
        ("mqtt://broker.example", BrokerUrl("broker.example", 1883)),
        ("mqtts://broker.example", BrokerUrl("broker.example", 8883, tls=True)),
        ("mqtts://broker.example:18883/", BrokerUrl("broker.example", 18883, tls=True)),
        ("mqtts://10.0.0.1:8883?ca=/etc/shouwang/ca.pem",
         BrokerUrl("10.0.0.1", 8883, tls=True, ca_file="/etc/shouwang/ca.pem")),
        ("mqtt://server-1:p%40ss%3Aword@127.0.0.1:1884",
         BrokerUrl("127.0.0.1", 1884, username="server-1", password="p@ss:word")),
        ("mqtt://gw-dongcun-01@[::1]:1883", BrokerUrl("::1", 1883, username="gw-dongcun-01")),
    ],
)
def test_urls_parse_into_whole_objects(url: str, expected: BrokerUrl) -> None:
    assert BrokerUrl.parse(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:1883", "must look like mqtt://HOST:PORT"),
        ("tcp://127.0.0.1:1883", "must look like mqtt://HOST:PORT"),
        ("mqtt://", "must look like mqtt://HOST:PORT"),
        ("127.0.0.1:1883", "must look like mqtt://HOST:PORT"),
        ("mqtt://127.0.0.1:99999", "bad port"),
        ("mqtt://127.0.0.1:port", "bad port"),
        ("mqtt://127.0.0.1:1883/sw/v1", "no path"),
        ("mqtt://127.0.0.1:1883#x", "no path"),
        ("mqtt://127.0.0.1:1883?ca=/etc/ca.pem", "needs mqtts://"),
        ("mqtts://127.0.0.1:8883?cafile=/etc/ca.pem", "unknown URL parameter"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(UrlError, match=message):
        BrokerUrl.parse(url)


def test_login_and_ca_file_from_separate_settings() -> None:
    url = BrokerUrl.parse("mqtts://broker.example").with_login("gw-1", "s3cret").with_ca_file("/ca.pem")
    assert url == BrokerUrl("broker.example", 8883, tls=True, ca_file="/ca.pem", username="gw-1",
                            password="s3cret")
    assert url.login == ("gw-1", "s3cret")
    assert BrokerUrl.parse("mqtt://h").login is None
    with pytest.raises(UrlError, match="needs an mqtts:// URL"):
        BrokerUrl.parse("mqtt://h").with_ca_file("/ca.pem")


def test_the_printed_url_never_holds_the_password() -> None:
    assert str(BrokerUrl.parse("mqtts://srv:pw@broker.example:8883?ca=/ca.pem")) == "mqtts://srv@broker.example:8883"
    assert str(BrokerUrl.parse("mqtt://[::1]")) == "mqtt://[::1]:1883"
