"""Notification targets: apprise URLs, and ``sms://NUMBER[,NUMBER]`` for the server's own modem."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import apprise

from protocol.errors import ProtocolError
from protocol.sms import check_number
from server.errors import Invalid

# apprise's e-mail plugin imports imghdr, deprecated since Python 3.11: imported here once,
# quietly, so the plugins load without a DeprecationWarning (an error under the tests).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import imghdr  # noqa: F401

SMS_SCHEME = "sms"
MAX_TARGET = 2000
# SHOUWANG_NOTIFY: URLs separated by spaces or commas; a comma inside a URL (a list of mail
# recipients) stays, since only a comma before the next "scheme://" separates.
_ENV_SPLIT = re.compile(r"\s+|,(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")


@dataclass(frozen=True)
class Target:
    url: str
    numbers: tuple[str, ...] = ()  # set for sms:// targets

    @property
    def is_sms(self) -> bool:
        return bool(self.numbers)


def parse_target(url: str) -> Target:
    """A target an admin may save: an URL apprise knows, or an ``sms://`` rule."""
    url = url.strip()
    if not url or len(url) > MAX_TARGET:
        raise Invalid("a target is an apprise URL of at most %d characters" % MAX_TARGET, reason="bad_target")
    scheme = url.partition("://")[0].lower()
    if scheme == SMS_SCHEME:
        rest = unquote(url.partition("://")[2]).strip("/")
        numbers = tuple(n.strip() for n in re.split(r"[,;/\s]+", rest) if n.strip())
        if not numbers:
            raise Invalid("sms:// needs at least one phone number", reason="bad_target")
        try:
            return Target(url, tuple(check_number(n) for n in numbers))
        except ProtocolError as exc:
            raise Invalid(exc.detail, reason="bad_target") from None
    if apprise.Apprise.instantiate(url) is None:
        raise Invalid("apprise does not understand this URL (scheme %r)" % scheme, reason="bad_target")
    return Target(url)


def env_targets(value: str | None) -> tuple[str, ...]:
    """SHOUWANG_NOTIFY as a list of URLs, each checked (a bad one stops the server at start)."""
    if not value:
        return ()
    urls = tuple(u.strip().rstrip(",") for u in _ENV_SPLIT.split(value) if u and u.strip(" ,"))
    for url in urls:
        parse_target(url)
    return urls


def display(url: str) -> str:
    """A target as shown to people: tokens, passwords and most of each number hidden."""
    target = parse_target(url)
    if target.is_sms:
        return "sms://" + ",".join("*" * (len(n) - 4) + n[-4:] for n in target.numbers)
    plugin = apprise.Apprise.instantiate(url)
    if plugin is not None:
        return str(cast(Any, plugin).url(privacy=True)).partition("?")[0]
    parts = urlsplit(url)  # pragma: no cover - parse_target refused it already
    return "%s://%s" % (parts.scheme, parts.hostname or "")
