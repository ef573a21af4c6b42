"""A serial node driven by a script instead of firmware, for tests and benchmarks.

It owns a pty: the gateway opens `port` as it would a USB serial adapter. Lines are built with
the protocol codec, acks read back on a thread; like the firmware, a line without a `stored`
ack can be sent again byte for byte.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Iterable
from typing import Any

from protocol.errors import ProtocolError
from protocol.kinds import Kind
from protocol.serial_line import SerialAck, SerialEvent, SerialNak, decode, encode


class ScriptedNode:
    def __init__(self, node: str = "00a3", first_seq: int = 1) -> None:
        self.node = node
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo or newline translation before the gateway opens it
        self.port = os.ttyname(self.slave)
        self.next_seq = first_seq
        self.lines: dict[int, bytes] = {}
        self.sent_at: dict[int, float] = {}
        self.acks: dict[int, dict[str, float]] = {}  # seq -> level -> monotonic time received
        self.naks: dict[int, str] = {}
        self.other: list[bytes] = []
        self._cond = threading.Condition()
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="node-%s" % node, daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        buf = b""
        while not self._closed:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                if self._closed:
                    return
                time.sleep(0.05)
                continue
            now = time.monotonic()
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._on_line(line + b"\n", now)

    def _on_line(self, line: bytes, now: float) -> None:
        try:
            msg = decode(line)
        except ProtocolError:
            with self._cond:
                self.other.append(line)
            return
        with self._cond:
            if isinstance(msg, SerialAck) and msg.node == self.node:
                self.acks.setdefault(msg.seq, {}).setdefault(msg.level.value, now)
            elif isinstance(msg, SerialNak) and msg.node == self.node:
                self.naks[msg.seq] = msg.reason
            else:
                self.other.append(line)
            self._cond.notify_all()

    def line_for(self, kind: Kind, data: dict[str, Any] | None = None) -> tuple[int, bytes]:
        seq = self.next_seq
        self.next_seq += 1
        line = encode(SerialEvent(self.node, seq, kind, dict(data or {})))
        self.lines[seq] = line
        return seq, line

    def send(self, kind: Kind, data: dict[str, Any] | None = None) -> int:
        seq, line = self.line_for(kind, data)
        self.write(line)
        self.sent_at[seq] = time.monotonic()
        return seq

    def write(self, raw: bytes) -> None:
        view = memoryview(raw)
        while view:
            written = os.write(self.master, view)
            view = view[written:]

    def resend_unacked(self, level: str = "stored") -> int:
        """Send again, byte for byte, every line without an ack of `level` (the firmware's retry)."""
        with self._cond:
            pending = [s for s in self.lines if level not in self.acks.get(s, {}) and s not in self.naks]
        for seq in pending:
            self.write(self.lines[seq])
        return len(pending)

    def acked(self, level: str = "stored") -> set[int]:
        with self._cond:
            return {s for s, levels in self.acks.items() if level in levels}

    def wait_acked(self, seqs: Iterable[int], level: str = "stored", timeout: float = 10.0) -> bool:
        wanted = set(seqs)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if all(level in self.acks.get(s, {}) for s in wanted):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    def wait_acked_retrying(
        self, seqs: Iterable[int], level: str = "stored", timeout: float = 30.0, every: float = 1.0
    ) -> bool:
        """Wait as the firmware does: repeat lines still lacking `stored` every `every` s.

        Needed at start-up too: opening a serial port flushes what was written before.
        """
        wanted = list(seqs)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if self.wait_acked(wanted, level, min(every, max(left, 0))):
                return True
            if left <= 0:
                return False
            self.resend_unacked("stored")

    def close(self) -> None:
        self._closed = True
        self._reader.join(2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
