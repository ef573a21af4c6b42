"""Serial adapter for our nodes: one reader thread per port, lines in, acks out.

A corrupted line (bad CRC, bad frame, too long) is counted by reason and dropped; the node
did not get an ack, so it retransmits. A well-framed line we cannot accept (unknown kind,
unknown device) is answered with NK so the node stops retrying it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

import serial

from gateway.config import SerialSettings
from gateway.counters import Counters
from gateway.errors import AdapterError
from gateway.outbox import LEVEL_ACCEPTED, LEVEL_DELIVERED, Appended, Incoming, utcnow
from gateway.registry import Registry
from gateway.sink import EventSink
from gateway.unknown_devices import UnknownDevices
from protocol import serial_line as sl
from protocol.errors import ProtocolError
from protocol.ids import serial_device_id

log = logging.getLogger(__name__)

_LEVELS = {LEVEL_DELIVERED: sl.AckLevel.DELIVERED, LEVEL_ACCEPTED: sl.AckLevel.ACCEPTED}
RfHandler = Callable[[sl.SerialRfCode, Callable[[bytes], None]], None]  # (code, reply)
ResultHandler = Callable[[sl.SerialCommandResult], None]


def ack_line(node: str, seq: int, level: sl.AckLevel) -> bytes:
    return sl.encode(sl.SerialAck(node, seq, level))


def ack_for(node: str, seq: int, result: Appended) -> bytes:
    return ack_line(node, seq, _LEVELS.get(result.level, sl.AckLevel.STORED))


class NodeLines:
    """Everything that happens to one received line; no I/O of its own, so the live port,
    the ``decode`` tool and the benchmark run the same code."""

    def __init__(
        self,
        sink: EventSink,
        registry: Registry,
        counters: Counters,
        write: Callable[[bytes], None],
        *,
        route: object = None,
        clock: Callable[[], datetime] = utcnow,
        on_rf: RfHandler | None = None,
        on_result: ResultHandler | None = None,
        on_heard: Callable[[str, dict[str, sl.Value]], None] | None = None,
        unknown: UnknownDevices | None = None,
    ) -> None:
        self.sink = sink
        self.registry = registry
        self.counters = counters
        self.write = write
        self.route = route
        self.clock = clock
        self.on_rf = on_rf
        self.on_result = on_result
        self.on_heard = on_heard
        self.unknown = unknown  # where a node not on the allowlist is listed for pairing

    def drop(self, reason: str, line: bytes) -> None:
        self.counters.inc("dropped." + reason)
        log.debug("dropped line (%s): %r", reason, line[:80])

    def nak(self, node: str, seq: int, reason: str) -> None:
        self.counters.inc("rejected." + reason)
        self.write(sl.encode(sl.SerialNak(node, seq, reason)))

    def handle(self, line: bytes) -> None:
        try:
            msg = sl.decode(line)
        except ProtocolError as exc:
            self._refuse(line, exc)
            return
        if isinstance(msg, sl.SerialEvent):
            # decode() has checked the frame and CRC; the body is what precedes "*".
            self._event(msg, line.rstrip(b"\r\n").rpartition(b"*")[0].decode("ascii"))
        elif isinstance(msg, sl.SerialRfCode):
            if self.on_rf is None:
                self.drop("unexpected_rf", line)
            else:
                self.on_rf(msg, self.write)
        elif isinstance(msg, sl.SerialCommandResult):
            if self.on_result is not None:
                self.on_result(msg)
        else:
            self.drop("unexpected_type", line)

    def _refuse(self, line: bytes, exc: ProtocolError) -> None:
        if exc.reason == "unknown_kind":
            # The frame is intact (CRC checked), so node and seq are trustworthy: tell the node.
            parts = sl.unframe(line).split(",")
            try:
                self.nak(parts[1], int(parts[2]), exc.reason)
                return
            except (ProtocolError, IndexError, ValueError):
                pass
        self.drop(exc.reason, line)

    def _event(self, msg: sl.SerialEvent, body: str) -> None:
        device = serial_device_id(msg.node)
        if self.route is not None:
            self.registry.set_route(device, self.route)
        if not self.registry.is_known(device):
            if self.unknown is not None:
                self.unknown.saw(device, "serial", msg.kind.value)
            self.nak(msg.node, msg.seq, "unknown_device")
            return
        item = Incoming(device=device, kind=msg.kind, at=self.clock(), device_seq=msg.seq,
                        data=dict(msg.data), body=body)
        node, seq, write = msg.node, msg.seq, self.write

        def stored(result: Appended) -> None:
            write(ack_for(node, seq, result))

        self.sink.submit(item, stored)
        if self.on_heard is not None:
            self.on_heard(device, item.data)


class SerialPort:
    """One port, one reader thread; reopens the port with backoff when it goes away."""

    def __init__(self, settings: SerialSettings, counters: Counters,
                 open_port: Callable[[SerialSettings], serial.Serial] | None = None) -> None:
        self.settings = settings
        self.counters = counters
        self.handler: Callable[[bytes], None] = lambda line: None
        self._open_port = open_port or (lambda s: serial.Serial(s.port, s.baudrate, timeout=0.1))
        self._port: serial.Serial | None = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, name="serial:%s" % settings.port, daemon=True)

    @property
    def name(self) -> str:
        return self.settings.port

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def wait_open(self, timeout: float) -> bool:
        return self._opened.wait(timeout)

    def write(self, data: bytes) -> None:
        with self._write_lock:
            port = self._port
            if port is None:
                self.counters.inc("errors.serial_write")
                log.warning("%s not open; %r not sent", self.name, data)
                return
            try:
                port.write(data)
            except (serial.SerialException, OSError) as exc:
                self.counters.inc("errors.serial_write")
                log.warning("write to %s failed: %s", self.name, exc)

    def _run(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                port = self._open_port(self.settings)
            except (serial.SerialException, OSError, ValueError) as exc:
                self.counters.inc("errors.serial_open")
                log.warning("cannot open %s: %s; retrying in %.1f s", self.name, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.2
            with self._write_lock:
                self._port = port
            self._opened.set()
            try:
                self._read(port)
            except AdapterError as exc:
                log.warning("%s", exc)
            finally:
                with self._write_lock:
                    self._port = None
                self._opened.clear()
                try:
                    port.close()
                except (serial.SerialException, OSError):
                    pass

    def _read(self, port: serial.Serial) -> None:
        buf = b""
        overflow = False
        while not self._stop.is_set():
            try:
                chunk = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                self.counters.inc("errors.serial_read")
                raise AdapterError("read from %s failed: %s" % (self.name, exc)) from None
            if not chunk:
                continue
            buf += chunk
            while True:
                end = buf.find(b"\n")
                if end < 0:
                    break
                line, buf = buf[:end + 1], buf[end + 1:]
                if overflow:
                    overflow = False
                    self.counters.inc("dropped.too_long")
                    continue
                self._dispatch(line)
            if len(buf) > sl.MAX_LINE:
                # Resynchronise on the next newline rather than buffer garbage without end.
                buf = b""
                overflow = True

    def _dispatch(self, line: bytes) -> None:
        if line.strip() == b"":
            return
        try:
            self.handler(line)
        except Exception:
            # One bad line must never stop the reader: the good lines around it still count.
            self.counters.inc("errors.handler")
            log.exception("line handler failed on %r", line[:80])
