"""The outbox's writer thread: turns a stream of submissions into group commits.

Adapters call ``submit`` from their own threads; the writer drains whatever has queued up
and commits it in one transaction, so events arriving close together share one fsync.
Callbacks run on the writer thread after the commit: that is where a node gets ``stored``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from gateway.counters import Counters
from gateway.errors import GatewayError
from gateway.outbox import Appended, Incoming, Outbox, Settled

log = logging.getLogger(__name__)

AppendCallback = Callable[[Appended], None]
SettleCallback = Callable[[list[Settled]], None]
CommittedCallback = Callable[[list[tuple[Incoming, Appended]]], None]

MAX_GROUP = 2000


@dataclass(slots=True)
class _Append:
    item: Incoming
    done: AppendCallback | None


@dataclass(slots=True)
class _Settle:
    ranges: list[tuple[int, int]]
    done: SettleCallback | None


@dataclass(slots=True)
class _Level:
    device: str
    device_seq: int
    level: int


@dataclass(slots=True)
class _Call:
    fn: Callable[[Outbox], None]


_Op = _Append | _Settle | _Level | _Call | None


class OutboxWriter:
    def __init__(self, outbox: Outbox, counters: Counters,
                 on_stored: Callable[[int], None] | None = None) -> None:
        self.outbox = outbox
        self.counters = counters
        self.on_stored = on_stored  # wakes the uplink after a commit with new rows
        self.on_new: Callable[[list[Incoming]], None] | None = None  # new events, after commit
        self.on_committed: CommittedCallback | None = None  # new events with their seqs, after commit
        self._queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
        self._stopping = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._thread.is_alive():
            self._stopping = True
            self._queue.put(None)
            self._thread.join()

    def submit(self, item: Incoming, done: AppendCallback | None = None) -> None:
        self._queue.put(_Append(item, done))

    def settle(self, ranges: list[tuple[int, int]], done: SettleCallback | None = None) -> None:
        self._queue.put(_Settle(ranges, done))

    def raise_level(self, device: str, device_seq: int, level: int) -> None:
        self._queue.put(_Level(device, device_seq, level))

    def call(self, fn: Callable[[Outbox], None]) -> None:
        """Run ``fn`` on the writer thread (the only thread allowed to touch the outbox)."""
        self._queue.put(_Call(fn))

    def _run(self) -> None:
        while True:
            op = self._queue.get()
            ops: list[_Op] = [op]
            while len(ops) < MAX_GROUP:
                try:
                    ops.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(o is None for o in ops)
            self._process([o for o in ops if o is not None])
            if stop:
                return

    def _process(self, ops: list[_Op]) -> None:
        appends: list[_Append] = []
        for op in ops:
            if isinstance(op, _Append):
                appends.append(op)
                continue
            # Keep order: anything queued before this settle/call is committed first.
            self._flush(appends)
            appends = []
            try:
                if isinstance(op, _Settle):
                    settled = self.outbox.settle(op.ranges)
                    self.counters.inc("delivered", len(settled))
                    if op.done is not None:
                        op.done(settled)
                elif isinstance(op, _Level):
                    self.outbox.raise_level(op.device, op.device_seq, op.level)
                elif isinstance(op, _Call):
                    op.fn(self.outbox)
            except GatewayError as exc:
                self.counters.inc("errors.outbox")
                log.error("outbox operation failed: %s", exc)
            except Exception:
                self.counters.inc("errors.outbox")
                log.exception("outbox callback failed")
        self._flush(appends)

    def _flush(self, appends: list[_Append]) -> None:
        if not appends:
            return
        try:
            results = self.outbox.append([a.item for a in appends])
        except GatewayError as exc:
            # Nothing was stored: the nodes hear no ack and retransmit, which is the safe outcome.
            self.counters.inc("errors.outbox", len(appends))
            log.error("could not store %d events: %s", len(appends), exc)
            return
        self.counters.inc("commits")
        duplicates = sum(1 for r in results if r.duplicate)
        stored = len(results) - duplicates
        self.counters.inc("stored", stored)
        for res in results:
            if res.data_replaced:
                self.counters.inc("data_replaced." + res.data_replaced)
        if duplicates:
            self.counters.inc("duplicates", duplicates)
        for op, res in zip(appends, results, strict=True):
            if op.done is not None:
                try:
                    op.done(res)
                except Exception:
                    log.exception("ack callback failed")
        for name, n in self.outbox.evicted.items():
            self.counters.inc("evicted." + name, n)
        self.outbox.evicted.clear()
        if stored and self.on_stored is not None:
            self.on_stored(stored)
        if stored and self.on_new is not None:
            try:
                self.on_new([op.item for op, res in zip(appends, results, strict=True) if not res.duplicate])
            except Exception:
                log.exception("new-event observer failed")
        if stored and self.on_committed is not None:
            try:
                self.on_committed([(op.item, res) for op, res in zip(appends, results, strict=True)
                                   if not res.duplicate])
            except Exception:
                log.exception("committed-event observer failed")
