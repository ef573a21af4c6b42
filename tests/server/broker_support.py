"""A broker client that records what the broker answers, and a CA made on the spot for TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import queue
import socket
import ssl
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from server.broker_files import write_broker_file

WAIT = 10.0  # upper bound for an answer to show up; never a timing assertion


class BrokerClient:
    """One MQTT v5 connection; every CONNACK, SUBACK, DISCONNECT and message lands in ``got``."""

    def __init__(
        self,
        port: int,
        username: str | None,
        password: str | None,
        client_id: str = "",
        ca_file: Path | None = None,
        clean_start: bool = True,
    ) -> None:
        self.got: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file))
        self.client.on_connect = lambda c, u, f, rc, p: self.got.put(("connect", rc.value))
        self.client.on_disconnect = lambda c, u, f, rc, p: self.got.put(("disconnect", rc.value))
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.got.put(("sub", [r.value for r in rcs]))
        self.client.on_message = lambda c, u, m: self.got.put((m.topic, bytes(m.payload)))
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0 if clean_start else 3600
        self.client.connect("127.0.0.1", port, clean_start=clean_start, properties=props)
        self.client.loop_start()

    def next(self, timeout: float = WAIT) -> tuple[str, Any]:
        return self.got.get(timeout=timeout)

    def subscribe(self, topic_filter: str) -> list[int]:
        self.client.subscribe(topic_filter, qos=1)
        kind, codes = self.next()
        assert kind == "sub", (kind, codes)
        return list(codes)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(WAIT)

    def received(self, marker_topic: str) -> list[tuple[str, Any]]:
        """Everything received until the marker comes back: the broker delivers in order, so
        nothing sent to this client before the marker can still be on its way."""
        marker = b"marker"
        self.publish(marker_topic, marker)
        out = []
        while (item := self.next()) != (marker_topic, marker):
            out.append(item)
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_tls_files(
    directory: Path, ca_name: str = "Shouwang test CA", host: str = "127.0.0.1"
) -> tuple[Path, Path, Path]:
    """A self-signed CA and a broker certificate for ``host`` signed by it: (ca, cert, key).
    The files go to the broker's group like the ones the server writes."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "broker.pem", directory / "broker.key"
    write_broker_file(paths[0], ca.public_bytes(serialization.Encoding.PEM).decode())
    write_broker_file(paths[1], cert.public_bytes(serialization.Encoding.PEM).decode())
    write_broker_file(
        paths[2],
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
    return paths


def tls_refused(port: int, ca_file: Path) -> str:
    """Why a TLS handshake with the listener fails when checked against ``ca_file``."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        try:
            with context.wrap_socket(sock, server_hostname="127.0.0.1"):
                return "accepted"
        except ssl.SSLCertVerificationError as exc:
            return str(exc.verify_message)
