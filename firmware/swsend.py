# Retransmission of events until the gateway has them in its outbox (ack `stored`), with
# exponential backoff so a gateway that is rebooting is not flooded. Alarms are never dropped;
# when the queue is full the oldest non-alarm event makes room. A NK means the gateway will
# never take the line, so retrying it would only hide the next events.
# The link is point to point (one USB/UART cable per node), so there is no shared medium and
# no jitter is needed to avoid collisions.
from time import ticks_add, ticks_diff

from micropython import const

_BASE_MS = const(1000)
_MAX_MS = const(30000)
_CAP = const(32)

ALARM_KINDS = ("panic", "panic_cancel", "medical", "fire", "intrusion")


class Sender:
    def __init__(self, base_ms=_BASE_MS, max_ms=_MAX_MS, cap=_CAP):
        self.base_ms = base_ms
        self.max_ms = max_ms
        self.cap = cap
        self.pending = []  # [seq, line, alarm, attempts, due_ms, tag]
        self.dropped = 0
        self.sent = 0

    def add(self, seq, line, alarm, now_ms, tag=None):
        # A newer event with the same `tag` (e.g. a heartbeat) replaces a pending one: its
        # news is stale and retrying it would only delay what is current.
        if tag is not None:
            for i in range(len(self.pending)):
                if self.pending[i][5] == tag:
                    self.pending.pop(i)
                    break
        if len(self.pending) >= self.cap:
            for i in range(len(self.pending)):
                if not self.pending[i][2]:
                    self.pending.pop(i)
                    self.dropped += 1
                    break
            else:
                if not alarm:
                    self.dropped += 1
                    return False
                if len(self.pending) >= self.cap * 4:
                    # Only alarms queued and the gateway gone for long: memory is finite, the
                    # newest alarm is the one a person is pressing for now.
                    self.pending.pop(0)
                    self.dropped += 1
        self.pending.append([seq, line, alarm, 0, now_ms, tag])
        return True

    def delay_ms(self, attempts):
        delay = self.base_ms
        for _ in range(attempts - 1):
            delay *= 2
            if delay >= self.max_ms:
                return self.max_ms
        return delay

    def due(self, now_ms):
        # Lines to (re)send now, oldest first.
        out = []
        for entry in self.pending:
            if ticks_diff(now_ms, entry[4]) >= 0:
                entry[3] += 1
                entry[4] = ticks_add(now_ms, self.delay_ms(entry[3]))
                out.append(entry[1])
        self.sent += len(out)
        return out

    def next_due(self):
        best = None
        for entry in self.pending:
            if best is None or ticks_diff(entry[4], best) < 0:
                best = entry[4]
        return best

    def settle(self, seq):
        # Stored or rejected by the gateway: stop retrying. Returns True if it was pending.
        for i in range(len(self.pending)):
            if self.pending[i][0] == seq:
                self.pending.pop(i)
                return True
        return False

    def is_pending(self, seq):
        for entry in self.pending:
            if entry[0] == seq:
                return True
        return False
