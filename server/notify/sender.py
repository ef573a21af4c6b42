"""Sending one notification: through apprise, or through the server's own GSM modem."""

from __future__ import annotations

import logging
import threading
from typing import Any

import apprise

from hardware.gsm_modem import GsmModem, ModemError
from server.errors import ServerError
from server.metrics import Metrics
from server.notify.targets import parse_target

log = logging.getLogger(__name__)


class NotifyError(ServerError):
    reason = "notify_failed"


class _Capture(logging.Handler):
    """apprise says why a send failed only in its log: keep this thread's lines while sending."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        lines: list[str] | None = getattr(self.local, "lines", None)
        if lines is not None:
            lines.append(record.getMessage())


_CAPTURE = _Capture()
logging.getLogger("apprise").addHandler(_CAPTURE)


class Sender:
    """Thread-safe; ``send`` raises ``NotifyError`` with the target's own words on failure."""

    def __init__(self, modem: GsmModem | None = None, metrics: Metrics | None = None) -> None:
        self.modem = modem
        self.metrics = metrics

    def send(self, target_url: str, title: str, body: str, short: str) -> str:
        """Deliver; returns a short note for the timeline (which parts, which reference)."""
        target = parse_target(target_url)
        if target.is_sms:
            return self._sms(target.numbers, short)
        # The plugin itself, not an Apprise() pool: it sends in this thread, so its log lines
        # (the only place apprise says why) are this delivery's.
        plugin: Any = apprise.Apprise.instantiate(target_url)
        if plugin is None:
            raise NotifyError("apprise does not understand the target URL", reason="bad_target")
        _CAPTURE.local.lines = []
        try:
            ok = bool(plugin.notify(body=body, title=title, notify_type=apprise.NotifyType.WARNING))
            lines: list[str] = _CAPTURE.local.lines
        finally:
            _CAPTURE.local.lines = None
        if not ok:
            detail = lines[-1] if lines else "the target did not take the notification"
            raise NotifyError(detail[:300])
        return "delivered"

    def _sms(self, numbers: tuple[str, ...], text: str) -> str:
        if self.modem is None:
            raise NotifyError("no GSM modem configured (SHOUWANG_SMS_PORT)", reason="no_modem")
        failed = []
        parts = 0
        for number in numbers:
            try:
                parts += self.modem.send(number, text).parts
            except ModemError as exc:
                if self.metrics is not None:
                    self.metrics.inc("sms_failed", reason=exc.reason.value)
                failed.append("%s: %s" % (number[-4:], exc.reason.value))
        if failed and len(failed) == len(numbers):
            raise NotifyError("SMS failed: %s" % "; ".join(failed), reason="sms_failed")
        if failed:
            # Some numbers got it; the rest are named in the timeline, not retried into
            # duplicates for those who did.
            return "SMS sent (%d parts), failed for %s" % (parts, "; ".join(failed))
        return "SMS sent (%d parts)" % parts
