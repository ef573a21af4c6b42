"""SIA DC-09 over TCP and UDP on one port: frames in, answers back, nothing else.

TCP: a panel may keep its connection open and send frame after frame; each frame is answered
on the same connection before the next is read (the panel waits for the answer anyway). UDP:
one datagram is one frame, answered to the sender's address. Threads, not the web server's
event loop: the receiver's work is a database transaction, and a slow commit must not hold up
the REST API.
"""

from __future__ import annotations

import logging
import socket
import threading

from protocol.dc09 import MAX_FRAME, FrameSplitter
from server.errors import ConfigError
from server.sia.receiver import PanelReceiver

log = logging.getLogger(__name__)

POLL = 0.5  # seconds between looks at the stop flag


class PanelListener:
    def __init__(
        self,
        receiver: PanelReceiver,
        host: str,
        port: int,
        idle_timeout: float = 300.0,
        max_connections: int = 256,
    ) -> None:
        self.receiver = receiver
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._tcp: socket.socket | None = None
        self._udp: socket.socket | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def start(self) -> tuple[str, int]:
        """Bind TCP and UDP on the same port (a free one when ``port`` is 0) and serve."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(20):
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, self.port))
            except OSError as exc:
                tcp.close()
                where = "%s:%d/tcp" % (self.host, self.port)
                raise ConfigError("SIA receiver cannot listen on %s: %s" % (where, exc)) from None
            port = tcp.getsockname()[1]
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((self.host, port))
            except OSError as exc:
                tcp.close()
                udp.close()
                if self.port == 0:
                    continue  # the free TCP port is taken for UDP: try another
                where = "%s:%d/udp" % (self.host, port)
                raise ConfigError("SIA receiver cannot listen on %s: %s" % (where, exc)) from None
            break
        else:
            raise ConfigError("SIA receiver found no port free for both TCP and UDP on %s" % self.host)
        tcp.listen(64)
        tcp.settimeout(POLL)
        udp.settimeout(POLL)
        self._tcp, self._udp, self.port = tcp, udp, port
        for target, name in ((self._accept_loop, "sia-tcp"), (self._udp_loop, "sia-udp")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("SIA DC-09 receiver listening on %s:%d (TCP and UDP)", self.host, port)
        return self.host, port

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        for sock in (self._tcp, self._udp):
            if sock is not None:
                sock.close()

    def _accept_loop(self) -> None:
        assert self._tcp is not None
        while not self._stop.is_set():
            try:
                conn, addr = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                log.exception("SIA receiver: accept failed")
                continue
            if not self._slots.acquire(blocking=False):
                log.warning("SIA receiver: too many connections, closing one from %s", addr[0])
                self.receiver.metrics.inc("sia_rejected", reason="too_many_connections")
                conn.close()
                continue
            threading.Thread(
                target=self._serve, args=(conn, "%s:%d" % addr[:2]), name="sia-conn", daemon=True
            ).start()

    def _serve(self, conn: socket.socket, peer: str) -> None:
        splitter = FrameSplitter()
        try:
            with conn:
                conn.settimeout(POLL)
                idle = 0.0
                while not self._stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        idle += POLL
                        if idle >= self.idle_timeout:
                            return
                        continue
                    if not data:
                        return
                    idle = 0.0
                    for frame in splitter.feed(data):
                        conn.sendall(self.receiver.handle(frame, peer))
        except OSError as exc:
            log.info("SIA connection from %s ended: %s", peer, exc)
        except Exception:
            # One bad connection must not take the receiver down.
            log.exception("SIA connection from %s failed", peer)
        finally:
            if splitter.dropped:
                self.receiver.metrics.inc("sia_rejected", splitter.dropped, reason="noise_bytes")
            self._slots.release()

    def _udp_loop(self) -> None:
        assert self._udp is not None
        while not self._stop.is_set():
            try:
                data, addr = self._udp.recvfrom(MAX_FRAME + 16)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                log.exception("SIA receiver: UDP receive failed")
                continue
            peer = "%s:%d" % addr[:2]
            try:
                self._udp.sendto(self.receiver.handle(data, peer), addr)
            except OSError as exc:
                log.info("SIA answer to %s not sent: %s", peer, exc)
            except Exception:
                log.exception("SIA datagram from %s failed", peer)
