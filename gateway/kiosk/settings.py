"""The ``[kiosk]`` table of the gateway TOML file (read by ``gateway.config``)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, Strict, StrictInt, StrictStr
from pydantic.dataclasses import dataclass

DEFAULT_LISTEN = "127.0.0.1:8080"


def split_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) -> (host, port); ``ValueError`` otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("%r is not HOST:PORT" % value)
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError("%r: the host must be an IP address (or localhost)" % value) from None
    return host, int(port)


def _listen(value: str) -> str:
    split_listen(value)
    return value


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("%r is not an address or network (10.8.0.0/24)" % value) from None
    return value


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class KioskSettings:
    # Where the page is served. Loopback by default: the station's own touchscreen. Set the
    # address of the station's network interface (or 0.0.0.0) to reach it from phones there.
    listen: Annotated[StrictStr, AfterValidator(_listen)] = DEFAULT_LISTEN
    # The station's name on the page's title bar; empty: the gateway id.
    station: StrictStr = ""
    # Clients are refused unless their address is private (RFC 1918, loopback, link-local,
    # IPv6 unique-local) or inside one of these networks (a VPN range, say).
    allow_clients: tuple[Annotated[StrictStr, AfterValidator(_network)], ...] = ()
    # A signed-in screen locks (the board stays readable) after this long without an action.
    session_idle_s: Annotated[float, Strict(), Field(ge=30.0)] = 600.0
    # Free disk space kept for alarms: below it, local actions are refused with a clear error.
    reserve_mb: Annotated[StrictInt, Field(ge=1)] = 64
    # The most kiosk.db may grow to (board, queued actions, PINs, test runs).
    max_db_mb: Annotated[StrictInt, Field(ge=1)] = 32
    # The page's language until staff switch it.
    lang: Literal["zh-CN", "en"] = "zh-CN"
