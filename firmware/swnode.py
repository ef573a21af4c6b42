# The node core: turns the app's events into numbered serial lines, retries them, reads the
# gateway's acks and commands, and keeps the LED telling the truth. Pure: the glue feeds it
# pin samples, received lines and the tick count, and writes out what it returns.
from time import ticks_add, ticks_diff

import swled
import swline
import swlog
from micropython import const
from swsend import ALARM_KINDS, Sender

_HEARTBEAT_MS = const(60000)
_LOW_PCT = const(20)
_OK_PCT = const(30)
_IDENTIFY_MS = const(10000)

_RANK = {"stored": 1, "delivered": 2, "accepted": 3}


class Node:
    def __init__(
        self,
        node_id,
        app,
        seqs,
        now_ms,
        heartbeat_ms=_HEARTBEAT_MS,
        battery=None,
        sender=None,
        led=None,
        buzzer=None,
        tamper=None,
        low_pct=_LOW_PCT,
        ok_pct=_OK_PCT,
    ):
        if not swline.is_node(node_id):
            raise ValueError("node id must be 1-16 lower-case hex digits: %r" % (node_id,))
        self.node_id = node_id
        self.app = app
        self.seqs = seqs
        self.heartbeat_ms = heartbeat_ms
        self.battery = battery  # callable -> percent or None
        self.low_pct = low_pct
        self.ok_pct = ok_pct
        self.sender = sender if sender is not None else Sender()
        self.led = led if led is not None else swled.Led()
        self.buzzer = buzzer
        self.history = swlog.LIMIT     # entries kept in acks, naks and events
        self.rf_ack = False
        self.tamper = tamper
        self.acks = []  # (seq, level) in the order received
        self.naks = []  # (seq, reason)
        self.errors = {}  # reason -> count of bad or foreign lines
        self.events = []  # (seq, kind) emitted
        self.alarm_seq = None
        self.alarm_level = None
        self._battery_low = False
        self._next_heartbeat = ticks_add(now_ms, heartbeat_ms)
        self._replies = []
        self._done_cmds = []  # last command seqs answered, with their reply

    def _count(self, reason):
        self.errors[reason] = self.errors.get(reason, 0) + 1

    def _fields(self):
        out = []
        pct = self.battery() if self.battery is not None else None
        if pct is not None:
            out.append(("battery", pct))
        return out

    def emit(self, kind, now_ms, extra=()):
        fields = self._fields()
        fields.extend(extra)
        seq = self.seqs.next()
        line = swline.event(self.node_id, seq, kind, fields)
        alarm = kind in ALARM_KINDS
        self.sender.add(seq, line, alarm, now_ms, "hb" if kind == "heartbeat" else None)
        swlog.remember(self.events, (seq, kind), self.history)
        if kind == "panic_cancel":
            self.alarm_seq = None
            self.led.set(swled.OFF, now_ms)
        elif alarm or kind == "test":
            # A test shows its acks like an alarm: that is what the monthly test checks.
            self.alarm_seq = seq
            self.alarm_level = None
            self.led.set(swled.CALLING, now_ms)
        return seq

    def emit_rf(self, proto, code_hex, now_ms, extra=()):
        # A 433 MHz code heard by the bridge. With `rf_ack` the gateway acks RF lines like
        # events and the bridge retries them like alarms (it cannot tell a panic pendant from
        # a door contact). Without it the line is sent once: retrying lines nobody acks would
        # repeat a door opening every 30 s for ever.
        seq = self.seqs.next()
        line = swline.encode("RF", self.node_id, seq, (proto, code_hex), list(extra))
        if self.rf_ack:
            self.sender.add(seq, line, True, now_ms)
        else:
            self._replies.append(line)
        swlog.remember(self.events, (seq, "rf:" + code_hex), self.history)
        return seq

    def sample(self, now_ms, level, tamper_level=None):
        for kind in self.app.update(now_ms, level):
            self.emit(kind, now_ms)
        if self.tamper is not None and tamper_level is not None:
            for kind in self.tamper.update(now_ms, tamper_level):
                self.emit(kind, now_ms)

    def _status(self):
        out = self.app.status()
        if self.tamper is not None:
            out = out + self.tamper.status()
        return out

    def _chirp(self, name, now_ms):
        if self.buzzer is not None:
            self.buzzer.play(name, now_ms)

    def _battery_check(self, now_ms):
        if self.battery is None:
            return
        pct = self.battery()
        if pct is None:
            return
        # Hysteresis: a cell near the threshold must not flap between low and ok.
        if not self._battery_low and pct < self.low_pct:
            self._battery_low = True
            self.emit("low_battery", now_ms)
        elif self._battery_low and pct >= self.ok_pct:
            self._battery_low = False
            self.emit("battery_ok", now_ms)

    def poll(self, now_ms):
        # Lines to write now: command results first, then events due for (re)transmission.
        if ticks_diff(now_ms, self._next_heartbeat) >= 0:
            self._next_heartbeat = ticks_add(now_ms, self.heartbeat_ms)
            self._battery_check(now_ms)
            self.emit("heartbeat", now_ms, self._status())
        out = self._replies
        self._replies = []
        out.extend(self.sender.due(now_ms))
        return out

    def receive(self, line, now_ms):
        try:
            msg = swline.decode(line)
        except swline.LineError as exc:
            self._count(exc.reason)
            return
        mtype, node, seq, head, fields = msg
        if node != self.node_id:
            self._count("other_node")
            return
        if mtype == "AK":
            self._on_ack(seq, head, now_ms)
        elif mtype == "NK":
            swlog.remember(self.naks, (seq, head), self.history)
            self.sender.settle(seq)
            if seq == self.alarm_seq:
                self.led.set(swled.FAILED, now_ms)
                self._chirp("failed", now_ms)
        elif mtype == "CM":
            self._on_command(seq, head, fields, now_ms)
        else:
            self._count("unexpected_type")

    def _on_ack(self, seq, level, now_ms):
        swlog.remember(self.acks, (seq, level), self.history)
        self.sender.settle(seq)
        if seq != self.alarm_seq:
            return
        if self.alarm_level is None or _RANK[level] > _RANK[self.alarm_level]:
            self.alarm_level = level
            self.led.set(swled.LEVEL_STATE[level], now_ms)
            self._chirp(level, now_ms)

    def _on_command(self, seq, op, fields, now_ms):
        # The gateway repeats a command until it sees the result; answer a repeat with the
        # same line instead of acting twice.
        for done_seq, reply in self._done_cmds:
            if done_seq == seq:
                self._replies.append(reply)
                return
        if op == "ping":
            reply = swline.encode("CR", self.node_id, seq, True, self._fields())
        elif op == "identify":
            self.led.set(swled.IDENTIFY, now_ms, _IDENTIFY_MS)
            self._chirp("identify", now_ms)
            reply = swline.encode("CR", self.node_id, seq, True)
        elif op == "status":
            reply = swline.encode("CR", self.node_id, seq, True, self._fields() + self._status())
        else:
            handler = getattr(self.app, "command", None)
            result = handler(op, fields, now_ms) if handler is not None else None
            if result is None:
                reply = swline.encode("CR", self.node_id, seq, False, [("error", "unknown_op")])
            else:
                reply = swline.encode("CR", self.node_id, seq, True, result)
        self._done_cmds.append((seq, reply))
        if len(self._done_cmds) > 8:
            self._done_cmds.pop(0)
        self._replies.append(reply)

    def led_level(self, now_ms):
        return self.led.level(now_ms)
