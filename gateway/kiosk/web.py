"""The kiosk's web server: the standard library's ``ThreadingHTTPServer`` (one thread per
connection, like the rest of the gateway), the page's three files, a small JSON API and one
server-sent-events stream per open page. No framework: the Raspberry Pi install stays free of
FastAPI and its dependencies.

Only clients on the station's network are served (private, loopback and link-local addresses,
plus ``kiosk.allow_clients``), and only when they name the server by address or ``localhost``.
Changes need a signed-in session (an HttpOnly, SameSite=Strict cookie), a JSON body and, when
the browser sends one, an ``Origin`` naming this server.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import unquote

from gateway.errors import GatewayError
from gateway.kiosk.errors import BadInput, KioskError, NotFound, NotSignedIn, Refused, Throttled
from gateway.kiosk.hub import Kiosk
from gateway.kiosk.settings import KioskSettings, split_listen

log = logging.getLogger(__name__)

COOKIE = "sw_kiosk"
MAX_BODY = 16 * 1024
KEEPALIVE_S = 15.0  # an idle stream sends a comment this often, so a vanished client is noticed
STATIC = {"/": ("kiosk.html", "text/html; charset=utf-8"),
          "/kiosk.js": ("kiosk.js", "text/javascript; charset=utf-8"),
          "/kiosk.css": ("kiosk.css", "text/css; charset=utf-8")}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none';"
                               " base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A station's own network: private (RFC 1918), loopback, link-local, IPv6 unique-local. Named
# here rather than taken from ``is_private``, which also counts documentation and reserved ranges.
STATION_NETWORKS: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "::1/128", "fe80::/10", "fc00::/7"))


def client_allowed(address: str, extra: tuple[Network, ...] = ()) -> bool:
    """Whether a client at ``address`` is on the station's network (or a configured one)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in STATION_NETWORKS + extra)


def host_allowed(host: str | None) -> bool:
    """Whether the ``Host`` a browser sent names this server by address (or ``localhost``). A
    page of another site that had its name re-pointed at the station's address (DNS rebinding)
    sends its own name, and is refused."""
    if not host:
        return False
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _static_files() -> dict[str, bytes]:
    folder = resources.files("gateway.kiosk") / "static"
    return {name: (folder / name).read_bytes() for name, _ in STATIC.values()}


class KioskServer:
    def __init__(self, kiosk: Kiosk, settings: KioskSettings) -> None:
        self.kiosk = kiosk
        self.settings = settings
        self.host, port = split_listen(settings.listen)
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in settings.allow_clients)
        self.files = _static_files()
        handler = _handler_class(self)
        try:
            family_host = "::" if self.host == "::" else self.host
            httpd = _Server((family_host, port), handler)
        except OSError as exc:
            why = exc.strerror or exc
            raise GatewayError("kiosk cannot listen on %s: %s" % (settings.listen, why)) from None
        self.httpd = httpd
        self.port = int(httpd.server_address[1])
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="kiosk-http", daemon=True)
        self.streams = 0
        self._streams_lock = threading.Lock()

    @property
    def url(self) -> str:
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d/" % (host, self.port)

    def start(self) -> None:
        self._thread.start()
        log.info("kiosk for %s at %s", self.kiosk.station, self.url)

    def stop(self) -> None:
        self.kiosk.changes.close()  # every open stream ends
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    def stream_opened(self, delta: int) -> None:
        with self._streams_lock:
            self.streams += delta


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        import socket

        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


def _handler_class(server: KioskServer) -> type[BaseHTTPRequestHandler]:
    kiosk = server.kiosk

    class Handler(BaseHTTPRequestHandler):
        server_version = "shouwang-kiosk"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.client_address[0], *args)

        # --- plumbing ------------------------------------------------------------------------

        def _send(self, status: int, body: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in {**SECURITY_HEADERS, **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            self._send(status, body, "application/json; charset=utf-8", headers)

        def _error(self, exc: KioskError) -> None:
            headers = {}
            if isinstance(exc, Throttled):
                headers["Retry-After"] = str(max(1, round(exc.retry_after)))
            body: dict[str, Any] = {"error": exc.reason, "detail": exc.detail or str(exc)}
            if isinstance(exc, Throttled):
                body["retry_after"] = max(1, round(exc.retry_after))
            self._json(exc.status, body, headers)

        def _token(self) -> str | None:
            raw = self.headers.get("Cookie")
            if not raw:
                return None
            try:
                jar = SimpleCookie(raw)
            except CookieError:
                return None
            morsel = jar.get(COOKIE)
            return morsel.value if morsel is not None else None

        def _me(self) -> str | None:
            return kiosk.sign_in.session(self._token())

        def _staff(self) -> str:
            me = self._me()
            if me is None:
                raise NotSignedIn("sign in with your PIN first")
            return me

        def _body(self) -> dict[str, Any]:
            if self.headers.get_content_type() != "application/json":
                raise BadInput("send JSON (Content-Type: application/json)", reason="not_json")
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                raise BadInput("bad Content-Length", reason="bad_request") from None
            if not 0 <= length <= MAX_BODY:
                raise BadInput("request body over %d bytes" % MAX_BODY, reason="too_large")
            raw = self.rfile.read(length)
            try:
                obj = json.loads(raw or b"{}")
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise BadInput("the body is not JSON", reason="not_json") from None
            if not isinstance(obj, dict):
                raise BadInput("the body must be a JSON object", reason="not_json")
            return obj

        def _text(self, body: dict[str, Any], key: str, *, required: bool = True) -> str:
            value = body.get(key, None if required else "")
            if not isinstance(value, str):
                raise BadInput("%s must be text" % key, reason="bad_input")
            return value

        def _same_origin(self) -> None:
            origin = self.headers.get("Origin")
            if origin is not None and origin != "http://%s" % self.headers.get("Host", ""):
                raise Refused("cross-site request refused", reason="cross_site")

        def _guarded(self, work: Callable[[], None]) -> None:
            if not client_allowed(self.client_address[0], server.networks):
                log.warning("kiosk: refused %s (not on the station's network)", self.client_address[0])
                self._json(403, {"error": "not_station_network",
                                 "detail": "the kiosk serves the station's own network only"})
                return
            if not host_allowed(self.headers.get("Host")):
                self._json(403, {"error": "bad_host", "detail": "open the kiosk by the station's address"})
                return
            try:
                work()
            except KioskError as exc:
                self._error(exc)
            except GatewayError as exc:
                log.error("kiosk request %s %s failed: %s", self.command, self.path, exc)
                self._json(500, {"error": "gateway_error", "detail": str(exc)})
            except (BrokenPipeError, ConnectionResetError):
                pass
            except Exception:
                log.exception("kiosk request %s %s failed", self.command, self.path)
                self._json(500, {"error": "internal", "detail": "the gateway could not do this"})

        # --- routes --------------------------------------------------------------------------

        def do_GET(self) -> None:
            self._guarded(self._get)

        def do_HEAD(self) -> None:
            self._guarded(self._get)

        def do_POST(self) -> None:
            self._guarded(self._post)

        def do_DELETE(self) -> None:
            self._guarded(self._delete)

        def _get(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in STATIC:
                name, content_type = STATIC[path]
                self._send(200, server.files[name], content_type)
            elif path == "/api/state":
                self._json(200, kiosk.state(kiosk.sign_in.peek(self._token())))
            elif path == "/api/events":
                self._stream()
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            else:
                raise NotFound("no such page", reason="not_found")

        def _post(self) -> None:
            self._same_origin()
            path = self.path.split("?", 1)[0]
            body = self._body()
            if path == "/api/session":
                name = kiosk.check_name(self._text(body, "name"))
                token = kiosk.sign_in.sign_in(name, self._text(body, "pin"), self.client_address[0])
                cookie = "%s=%s; Path=/; HttpOnly; SameSite=Strict" % (COOKIE, token)
                self._json(200, {"me": name}, {"Set-Cookie": cookie})
                kiosk.changes.bump()
                return
            me = self._staff()
            parts = [unquote(part) for part in path.strip("/").split("/")]
            if len(parts) == 4 and parts[:2] == ["api", "alarms"] and parts[3] == "actions":
                note = self._text(body, "note", required=False)
                result = kiosk.act(parts[2], self._text(body, "action"), note, me)
                self._json(202, result)
            elif path == "/api/siren":
                if body.get("on") is not False:
                    raise BadInput("the kiosk can only switch the siren off", reason="bad_input")
                kiosk.silence(me)
                self._json(200, {"siren": False})
            elif path == "/api/pairing":
                result = kiosk.pair(me, self._text(body, "device"), self._text(body, "name"),
                                    model=self._text(body, "model", required=False),
                                    kind=self._text(body, "kind", required=False),
                                    location=self._text(body, "location", required=False))
                self._json(200, result)
            elif path == "/api/test":
                kiosk.start_test(me)
                self._json(200, {"test": "running"})
            else:
                raise NotFound("no such action", reason="not_found")

        def _delete(self) -> None:
            self._same_origin()
            path = self.path.split("?", 1)[0]
            if path == "/api/session":
                kiosk.sign_in.sign_out(self._token())
                gone = "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" % COOKIE
                self._json(200, {"me": None}, {"Set-Cookie": gone})
                return
            me = self._staff()
            if path == "/api/test":
                kiosk.finish_test(me)
                self._json(200, {"test": "finished"})
            else:
                raise NotFound("no such action", reason="not_found")

        def _stream(self) -> None:
            """Server-sent events: the whole state whenever it changed, a comment when idle."""
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            for key, value in SECURITY_HEADERS.items():
                self.send_header(key, value)
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            server.stream_opened(1)
            token = self._token()
            try:
                self.wfile.write(b"retry: 2000\n\n")
                version: int | None = kiosk.changes.version
                self._event(kiosk.state(kiosk.sign_in.peek(token)))
                while True:
                    latest = kiosk.changes.wait(version or 0, KEEPALIVE_S)
                    if latest is None:
                        return
                    if latest == version:
                        self.wfile.write(b": idle\n\n")
                    else:
                        version = latest
                        self._event(kiosk.state(kiosk.sign_in.peek(token)))
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                return
            finally:
                server.stream_opened(-1)

        def _event(self, state: dict[str, Any]) -> None:
            data = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
            self.wfile.write(b"event: state\ndata: " + data.encode("utf-8") + b"\n\n")
            self.wfile.flush()

    return Handler
