# The BLE transport of our button and door sensor: events become encrypted BTHome adverts.
# There is no ack over advertising, so an alarm advert is repeated for `alarm_ms` with the same
# packet id and counter (BlueZ on a Pi misses single adverts); the gateway drops the repeats.
# The encryption counter is persisted like serial sequence numbers, so it never goes back and
# the gateway's replay check never rejects a real event after a reboot.
from time import ticks_add, ticks_diff

import swbthome
import swlog
from micropython import const
from swsend import ALARM_KINDS

_ALARM_MS = const(5000)
_EVENT_MS = const(2000)
_BEAT_MS = const(1000)
_HEARTBEAT_MS = const(300000)
_QUEUE = const(8)

_BUTTON = {"panic": swbthome.LONG_PRESS, "panic_cancel": swbthome.DOUBLE_PRESS, "test": swbthome.PRESS}


class BleNode:
    def __init__(self, app, counters, aes, mac, now_ms, battery=None, heartbeat_ms=_HEARTBEAT_MS,
                 name=None, alarm_ms=_ALARM_MS, event_ms=_EVENT_MS, beat_ms=_BEAT_MS):
        self.app = app
        self.counters = counters
        self.aes = aes
        self.mac = mac
        self.battery = battery
        self.heartbeat_ms = heartbeat_ms
        self.name = name
        self.alarm_ms = alarm_ms
        self.event_ms = event_ms
        self.beat_ms = beat_ms
        self.tamper = None
        self.history = swlog.LIMIT
        self.events = []            # (counter, kind)
        self.adverts = 0
        self._queue = []            # [advert bytes, duration_ms, kind]
        self._current = None
        self._until = now_ms
        self._next_heartbeat = ticks_add(now_ms, heartbeat_ms)

    def _battery(self):
        return self.battery() if self.battery is not None else None

    def emit(self, kind, now_ms):
        counter = self.counters.next()
        opening = None
        tamper = None
        state = self.app.status()
        for key, value in state:
            if key == "door":
                opening = value == "open"
        if kind == "door_open" or kind == "door_close":
            opening = kind == "door_open"
        elif kind == "tamper" or kind == "tamper_restore":
            tamper = kind == "tamper"
        objs = swbthome.objects(counter & 0xFF, self._battery(), opening, tamper, _BUTTON.get(kind))
        # Not trigger-based: the node also advertises periodic heartbeats.
        data = swbthome.service_data(objs, self.aes, self.mac, counter, trigger=False)
        adv = swbthome.advert(data, self.name)
        alarm = kind in ALARM_KINDS
        duration = self.alarm_ms if alarm else (self.beat_ms if kind == "heartbeat" else self.event_ms)
        if kind == "heartbeat":
            # A heartbeat waiting behind real news carries nothing new.
            if self._queue or self._current is not None:
                swlog.remember(self.events, (counter, "heartbeat-skipped"), self.history)
                return counter
        if alarm:
            # An alarm goes on air before queued non-alarm news.
            i = 0
            while i < len(self._queue) and self._queue[i][2] in ALARM_KINDS:
                i += 1
            self._queue.insert(i, [adv, duration, kind])
        else:
            self._queue.append([adv, duration, kind])
        if len(self._queue) > _QUEUE:
            # A flapping contact must not eat the heap: the oldest non-alarm news goes first.
            for i in range(len(self._queue)):
                if self._queue[i][2] not in ALARM_KINDS:
                    self._queue.pop(i)
                    break
            else:
                self._queue.pop(0)
        swlog.remember(self.events, (counter, kind), self.history)
        return counter

    def sample(self, now_ms, level, tamper_level=None):
        for kind in self.app.update(now_ms, level):
            self.emit(kind, now_ms)
        if self.tamper is not None and tamper_level is not None:
            for kind in self.tamper.update(now_ms, tamper_level):
                self.emit(kind, now_ms)

    def tick(self, now_ms):
        # The advert that should be on air now, or None for radio silence.
        if ticks_diff(now_ms, self._next_heartbeat) >= 0:
            self._next_heartbeat = ticks_add(now_ms, self.heartbeat_ms)
            self.emit("heartbeat", now_ms)
        if self._current is not None and ticks_diff(now_ms, self._until) >= 0:
            self._current = None
        if self._current is None and self._queue:
            adv, duration, _ = self._queue.pop(0)
            self._current = adv
            self._until = ticks_add(now_ms, duration)
            self.adverts += 1
        return self._current
