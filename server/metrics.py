"""Process counters, rendered in the Prometheus text format."""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_HELP = {
    "events_ingested": "Events stored for the first time.",
    "events_duplicate": "Events received again and acked again without a new row.",
    "events_quarantined": "Events for a device registered to another gateway, kept aside (no case).",
    "events_seq_reused": "Events sent under an id the server held with other content, stored anew.",
    "events_rejected": "Events or messages refused as malformed, by reason (never acked).",
    "payloads_dead_lettered": "Messages refused whole and kept in the dead-letter table, by reason.",
    "events_priority_corrected": "Events whose sender's priority differed from the one the kind gives.",
    "cases_opened": "Cases opened.",
    "alerts_published": "Duty alerts published and confirmed by the broker (PUBACK).",
    "outbox_unconfirmed": "Outbox messages sent but not confirmed in time (sent again after the lease).",
    "outbox_failed": "Outbox messages whose sending failed outright (tried again later).",
    "outbox_errors": "Steps of the outbox relay that failed (what they held stays in the outbox).",
    "acks_published": "Ack messages published to gateways.",
    "ingest_errors": "Batches not stored because the database failed (the gateway resends).",
    "commands_published": "Commands published to gateways.",
    "sia_frames": "SIA DC-09 frames received from alarm panels.",
    "sia_acked": "SIA DC-09 frames acknowledged (after their events were committed).",
    "sia_rejected": "SIA DC-09 frames refused with NAK or DUH, by reason.",
    "sia_duplicates": "Panel events received again and acknowledged again without a new row.",
    "sia_length_mismatch": "SIA DC-09 frames whose length field was wrong (accepted on their CRC).",
    "sia_errors": "SIA DC-09 frames not stored because the database failed (answered NAK).",
    "notifications_sent": "Notifications a target took (apprise or SMS).",
    "notifications_failed": "Notification attempts that failed (retried with backoff), by target scheme.",
    "notify_targets_failing": "Notification targets that kept failing and became a maintenance case.",
    "sms_failed": "Messages the server's GSM modem did not send, by reason.",
    "deadline_errors": "Deadline steps of one case (or offline checks of one gateway) that failed.",
    "refused_pruned": "Dead letters and quarantined events deleted beyond the kept bounds, by table.",
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, str], float] = defaultdict(float)
        self._buckets = [0] * len(LATENCY_BUCKETS)
        self._lat_sum = 0.0
        self._lat_count = 0

    def inc(self, name: str, amount: float = 1, reason: str = "") -> None:
        with self._lock:
            self._counters[(name, reason)] += amount

    def get(self, name: str, reason: str = "") -> float:
        with self._lock:
            if reason:
                return self._counters.get((name, reason), 0.0)
            return sum(v for (n, _), v in self._counters.items() if n == name)

    def observe_latency(self, seconds: float) -> None:
        with self._lock:
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1
            self._lat_sum += seconds
            self._lat_count += 1

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, help_text in _HELP.items():
                full = "shouwang_%s_total" % name
                lines.append("# HELP %s %s" % (full, help_text))
                lines.append("# TYPE %s counter" % full)
                rows = sorted((r, v) for (n, r), v in self._counters.items() if n == name)
                if not rows:
                    lines.append("%s 0" % full)
                for reason, value in rows:
                    label = '{reason="%s"}' % reason if reason else ""
                    lines.append("%s%s %g" % (full, label, value))
            hist = "shouwang_ingest_latency_seconds"
            lines.append("# HELP %s From MQTT message received to database commit." % hist)
            lines.append("# TYPE %s histogram" % hist)
            for bound, count in zip(LATENCY_BUCKETS, self._buckets, strict=True):
                lines.append('%s_bucket{le="%g"} %d' % (hist, bound, count))
            lines.append('%s_bucket{le="+Inf"} %d' % (hist, self._lat_count))
            lines.append("%s_sum %g" % (hist, self._lat_sum))
            lines.append("%s_count %d" % (hist, self._lat_count))
        return "\n".join(lines) + "\n"
