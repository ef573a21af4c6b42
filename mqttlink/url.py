"""Broker URLs, parsed once: ``mqtt://[user[:password]@]host[:port]`` and ``mqtts://...``.

``mqtts`` means TLS; its CA file comes from the ``ca`` query parameter
(``mqtts://broker.example:8883?ca=/etc/shouwang/ca.pem``) or from the caller's own setting,
and without one the system's trusted CAs verify the broker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import parse_qs, unquote, urlsplit

from mqttlink.errors import UrlError

SCHEMES = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool = False
    ca_file: str = ""
    username: str = ""
    password: str = ""

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise UrlError("must look like mqtt://HOST:PORT or mqtts://HOST:PORT, got %r" % url)
        try:
            port = parts.port or SCHEMES[parts.scheme]
        except ValueError:
            raise UrlError("bad port in %r" % url) from None
        if parts.path not in ("", "/") or parts.fragment:
            raise UrlError("a broker URL has no path, got %r" % url)
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
        unknown = set(query) - {"ca"}
        if unknown:
            raise UrlError("unknown URL parameter(s) %s in %r" % (", ".join(sorted(unknown)), url))
        ca_file = query.get("ca", [""])[-1]
        if ca_file and parts.scheme != "mqtts":
            raise UrlError("a CA file (?ca=) needs mqtts://, got %r" % url)
        return cls(
            host=parts.hostname,
            port=port,
            tls=parts.scheme == "mqtts",
            ca_file=ca_file,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
        )

    def with_login(self, username: str, password: str) -> BrokerUrl:
        return replace(self, username=username, password=password)

    def with_ca_file(self, ca_file: str) -> BrokerUrl:
        if ca_file and not self.tls:
            raise UrlError("a CA file needs an mqtts:// URL")
        return replace(self, ca_file=ca_file)

    @property
    def login(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username else None

    def __str__(self) -> str:
        """The URL without its password, for logs."""
        user = "%s@" % self.username if self.username else ""
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s%s:%d" % ("mqtts" if self.tls else "mqtt", user, host, self.port)
