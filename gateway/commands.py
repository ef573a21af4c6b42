"""Commands to our serial nodes (``CM`` lines) and their results (``CR``).

A command is repeated until the node answers or the deadline passes; the node answers a
repeat with its first reply, so a command acts once. The clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol import serial_line as sl
from protocol.payloads import CommandResult

REPEAT_S = 1.0
DEADLINE_S = 10.0


@dataclass(slots=True)
class _Pending:
    cmd_id: str
    line: bytes
    write: Callable[[bytes], None]
    sent_at: float
    deadline: float
    device: str


class NodeCommands:
    def __init__(self, publish: Callable[[CommandResult], None], clock: Callable[[], float] = time.monotonic,
                 first_seq: int | None = None) -> None:
        self.publish = publish
        self.clock = clock
        self._lock = threading.Lock()
        # Seqs must not repeat across restarts within a node's memory of answered commands.
        self._seq = first_seq if first_seq is not None else int(time.time()) % 1_000_000_000
        self._pending: dict[tuple[str, int], _Pending] = {}

    def send(self, cmd_id: str, device: str, op: str, args: dict[str, sl.Value],
             write: Callable[[bytes], None]) -> int:
        node = device[3:]
        with self._lock:
            self._seq += 1
            seq = self._seq
            line = sl.encode(sl.SerialCommand(node, seq, op, args))
            now = self.clock()
            self._pending[(node, seq)] = _Pending(cmd_id, line, write, now, now + DEADLINE_S, device)
        write(line)
        return seq

    def result(self, msg: sl.SerialCommandResult) -> bool:
        with self._lock:
            pending = self._pending.pop((msg.node, msg.seq), None)
        if pending is None:
            return False  # a repeat's reply, or for a command we gave up on
        extra: dict[str, Any] = {"device": pending.device, **msg.data}
        self.publish(CommandResult(pending.cmd_id, msg.ok, extra))
        return True

    def tick(self) -> None:
        now = self.clock()
        expired: list[_Pending] = []
        again: list[_Pending] = []
        with self._lock:
            for key, p in list(self._pending.items()):
                if now >= p.deadline:
                    expired.append(self._pending.pop(key))
                elif now - p.sent_at >= REPEAT_S:
                    p.sent_at = now
                    again.append(p)
        for p in again:
            p.write(p.line)
        for p in expired:
            self.publish(CommandResult(p.cmd_id, False, {"device": p.device, "error": "timeout"}))

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)
