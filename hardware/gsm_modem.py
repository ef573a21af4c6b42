"""A USB GSM/4G modem on a serial port: AT commands through pyserial, one text message at a time.

Used by the server (``sms://`` notification targets) and by the gateway (SMS fallback when the
link is down). Short texts go in text mode (plain ASCII as ``IRA``, anything else as UCS-2,
which Chinese needs); long texts and texts needing the GSM extension table go in PDU mode as
concatenated parts (``protocol.sms``). Before each message the SIM and the registration are
checked, so "no SIM" and "no network" are told apart from a refused message. Every failure
raises ``ModemError`` with a ``protocol.sms.Reason`` and is counted under it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from hardware import HardwareError
from protocol.errors import ProtocolError
from protocol.sms import (
    Encoding,
    Final,
    Reason,
    check_number,
    parse_cmgs,
    parse_cpin,
    parse_final,
    parse_registration,
    split,
    submit_pdus,
    ucs2_hex,
)

log = logging.getLogger(__name__)

CTRL_Z = b"\x1a"
ESC = b"\x1b"
PROMPT = b"> "
# Printable ASCII that is also in the GSM basic table: safe as IRA in text mode.
_IRA_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("[]{}\\^~|`")
T = TypeVar("T")


class SerialPort(Protocol):
    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


def open_serial(port: str, baudrate: int) -> SerialPort:
    import serial

    try:
        handle: SerialPort = serial.Serial(port, baudrate, timeout=0.05, write_timeout=5)
    except (serial.SerialException, OSError) as exc:
        raise ModemError(Reason.PORT, "cannot open %s: %s" % (port, exc)) from None
    return handle


class ModemError(HardwareError):
    def __init__(self, reason: Reason, detail: str = "", code: int | None = None) -> None:
        super().__init__("%s: %s" % (reason.value, detail) if detail else reason.value)
        self.reason = reason
        self.detail = detail
        self.code = code


@dataclass(frozen=True)
class SendReport:
    number: str
    parts: int
    encoding: Encoding
    truncated: bool
    mode: str  # "text" or "pdu"
    references: tuple[int, ...]  # the network's message reference per part (+CMGS)


@dataclass(frozen=True)
class ModemStatus:
    sim: Reason | None  # None: the SIM is ready
    registered: bool

    @property
    def ready(self) -> bool:
        return self.sim is None and self.registered


class GsmModem:
    """One modem, one sender at a time (a lock), reopened after the port fails."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        command_timeout: float = 5.0,
        send_timeout: float = 60.0,
        max_parts: int = 4,
        opener: Callable[[str, int], SerialPort] = open_serial,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.command_timeout = command_timeout
        self.send_timeout = send_timeout
        self.max_parts = max_parts
        self._opener = opener
        self._monotonic = monotonic
        self._serial: SerialPort | None = None
        self._buffer = b""
        self._lock = threading.Lock()
        self._reference = 0
        self.sent = 0  # messages
        self.parts_sent = 0
        self.failures: Counter[str] = Counter()
        self.last_error: str | None = None

    # -- life cycle ----------------------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            self._ensure_open()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> GsmModem:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_open(self) -> SerialPort:
        if self._serial is None:
            self._serial = self._opener(self.port, self.baudrate)
            self._buffer = b""
            try:
                # Echo off, numeric error codes: the answers this driver reads.
                self._command("ATE0")
                self._command("AT+CMEE=1")
            except ModemError:
                self._drop()
                raise
        return self._serial

    def _drop(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except OSError:
                pass
            self._serial = None
        self._buffer = b""

    # -- public --------------------------------------------------------------------------

    def status(self) -> ModemStatus:
        with self._lock:
            return self._guard(self._status)

    def send(self, number: str, text: str) -> SendReport:
        """Send one text; raises ``ModemError`` (counted by reason) when it did not go."""
        with self._lock:
            report = self._guard(lambda: self._send(number, text))
            self.sent += 1
            self.parts_sent += report.parts
            log.info(
                "SMS to %s sent in %d part(s) (%s, %s mode)",
                mask_number(number),
                report.parts,
                report.encoding.value,
                report.mode,
            )
            return report

    def counters(self) -> dict[str, Any]:
        """What status pages and metrics show: sent, parts and failures by reason."""
        return {
            "sent": self.sent,
            "parts_sent": self.parts_sent,
            "failures": dict(sorted(self.failures.items())),
            "last_error": self.last_error,
        }

    # -- internals -----------------------------------------------------------------------

    def _guard(self, work: Callable[[], T]) -> T:
        try:
            try:
                return work()
            except ProtocolError as exc:
                raise ModemError(Reason.BAD_NUMBER if exc.reason == "bad_number" else Reason.MODEM_ERROR,
                                 exc.detail) from None  # fmt: skip
            except OSError as exc:
                self._drop()
                raise ModemError(Reason.PORT, str(exc)) from None
            except Exception as exc:
                # pyserial's SerialException is an OSError on POSIX, but not on every version.
                if type(exc).__name__ == "SerialException":
                    self._drop()
                    raise ModemError(Reason.PORT, str(exc)) from None
                raise
        except ModemError as exc:
            self.failures[exc.reason.value] += 1
            self.last_error = str(exc)
            log.warning("modem %s: %s", self.port, exc)
            raise

    def _status(self) -> ModemStatus:
        port = self._ensure_open()
        # Whatever came late for an earlier command (after a timeout) is not an answer to ours.
        port.reset_input_buffer()
        self._buffer = b""
        lines, final = self._command("AT+CPIN?", allow_error=True)
        sim: Reason | None
        if not final.ok:
            sim = final.reason if final.reason in (Reason.NO_SIM, Reason.SIM_LOCKED) else Reason.NO_SIM
        else:
            cpin = [ln for ln in lines if ln.startswith("+CPIN:")]
            sim = parse_cpin(cpin[0]) if cpin else Reason.NO_SIM
        if sim is not None:
            return ModemStatus(sim, False)
        registered = False
        for query in ("AT+CREG?", "AT+CEREG?"):
            answer, done = self._command(query, allow_error=True)
            if not done.ok:
                continue  # a 2G modem has no +CEREG; a 4G-only one may refuse +CREG
            for line in answer:
                reg = parse_registration(line)
                if reg is not None and reg.registered:
                    registered = True
            if registered:
                break
        return ModemStatus(None, registered)

    def _send(self, number: str, text: str) -> SendReport:
        check_number(number)
        status = self._status()
        if status.sim is not None:
            raise ModemError(status.sim, "SIM not ready")
        if not status.registered:
            raise ModemError(Reason.NO_NETWORK, "not registered on a network")
        parts = split(text, self.max_parts)
        if not parts.concatenated and all(ch in _IRA_SAFE for ch in parts.parts[0]):
            ref = self._send_text(number, parts.parts[0], ucs2=False)
            return SendReport(number, 1, Encoding.GSM7, parts.truncated, "text", (ref,))
        if not parts.concatenated and parts.encoding is Encoding.UCS2:
            ref = self._send_text(number, parts.parts[0], ucs2=True)
            return SendReport(number, 1, Encoding.UCS2, parts.truncated, "text", (ref,))
        self._reference = (self._reference + 1) % 256
        split_parts, pdus = submit_pdus(number, text, self._reference, self.max_parts)
        self._command("AT+CMGF=0")
        refs = []
        for pdu in pdus:
            refs.append(self._submit("AT+CMGS=%d" % pdu.tpdu_length, pdu.hex.encode("ascii")))
        return SendReport(number, len(pdus), split_parts.encoding, split_parts.truncated, "pdu", tuple(refs))

    def _send_text(self, number: str, text: str, *, ucs2: bool) -> int:
        self._command("AT+CMGF=1")
        if ucs2:
            self._command('AT+CSCS="UCS2"')
            self._command("AT+CSMP=17,167,0,8")  # data coding scheme 8: UCS-2
            return self._submit('AT+CMGS="%s"' % ucs2_hex(number), ucs2_hex(text).encode("ascii"))
        self._command('AT+CSCS="IRA"')
        self._command("AT+CSMP=17,167,0,0")
        return self._submit('AT+CMGS="%s"' % number, text.encode("ascii"))

    def _submit(self, command: str, body: bytes) -> int:
        """``AT+CMGS``: wait for the prompt, send the body and Ctrl-Z, read the reference."""
        port = self._ensure_open()
        port.write(command.encode("ascii") + b"\r")
        deadline = self._monotonic() + self.command_timeout
        while PROMPT not in self._buffer:
            final = self._final_in_buffer()
            if final is not None and not final.ok:
                raise _error(final)
            if self._monotonic() >= deadline:
                port.write(ESC)  # leave the message prompt if it comes late
                raise ModemError(Reason.TIMEOUT, "no prompt after %s" % command.split("=")[0])
            self._fill(port)
        self._buffer = self._buffer.split(PROMPT, 1)[1]
        port.write(body + CTRL_Z)
        lines, final = self._read_final(self.send_timeout, "the message")
        if not final.ok:
            raise _error(final)
        for line in lines:
            ref = parse_cmgs(line)
            if ref is not None:
                return ref
        return -1

    def _command(self, command: str, *, allow_error: bool = False) -> tuple[list[str], Final]:
        port = self._ensure_open()
        port.write(command.encode("ascii") + b"\r")
        lines, final = self._read_final(self.command_timeout, command)
        if not allow_error and not final.ok:
            raise _error(final)
        return lines, final

    def _read_final(self, timeout: float, what: str) -> tuple[list[str], Final]:
        """Lines up to the final result; unsolicited lines (``+CMTI``, ``RING``) come along."""
        port = self._ensure_open()
        deadline = self._monotonic() + timeout
        lines: list[str] = []
        while True:
            while b"\n" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\n", 1)
                text = raw.decode("ascii", "replace").strip()
                if not text:
                    continue
                final = parse_final(text)
                if final is not None:
                    return lines, final
                lines.append(text)
            if self._monotonic() >= deadline:
                raise ModemError(Reason.TIMEOUT, "no answer to %s within %.0f s" % (what, timeout))
            self._fill(port)

    def _final_in_buffer(self) -> Final | None:
        for raw in self._buffer.split(b"\n")[:-1]:
            final = parse_final(raw.decode("ascii", "replace"))
            if final is not None:
                return final
        return None

    def _fill(self, port: SerialPort) -> None:
        self._buffer += port.read(256)


def _error(final: Final) -> ModemError:
    return ModemError(final.reason or Reason.MODEM_ERROR, final.line, final.code)


def mask_number(number: str) -> str:
    """Logs keep the last four digits only: numbers are people's."""
    return "*" * max(0, len(number) - 4) + number[-4:]
