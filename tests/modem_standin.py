"""A GSM modem stand-in on a real pty: answers AT commands as a modem does, errors included.

The code under test opens ``standin.port`` with pyserial like a USB modem's ``/dev/ttyUSB2``.
Nothing leaves this machine: "sent" messages are decoded and kept in ``messages``.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from dataclasses import dataclass, field

from protocol.sms import decode_submit_pdu, from_ucs2_hex


@dataclass(frozen=True)
class ReceivedPart:
    number: str
    text: str
    mode: str  # "text" or "pdu"
    dcs: int  # 0 GSM 7-bit, 8 UCS-2
    reference: int | None = None  # concatenation reference, None for a single message
    total: int = 1
    sequence: int = 1


@dataclass
class ModemStandIn:
    """State a test sets: ``sim``, ``creg``, ``cereg`` (None: the command is unknown) and
    ``send_faults``, consumed one per ``AT+CMGS``: an int answers ``+CMS ERROR: <n>``,
    ``"ERROR"`` a plain ERROR, ``"silent"`` nothing at all, ``"no_prompt"`` no ``>``."""

    sim: str = "READY"  # or "NOT INSERTED", "SIM PIN"
    creg: int = 1
    cereg: int | None = 1
    hung: bool = False  # answers nothing to anything
    urc: bool = True  # sprinkles unsolicited lines (+CMTI, RING) before answers
    send_faults: list[int | str] = field(default_factory=list)
    parts: list[ReceivedPart] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self._echo = True
        self._cmee = 0
        self._cmgf = 0
        self._cscs = "IRA"
        self._dcs = 0
        self._ref = 0
        self._pending: tuple[str, str | int] | None = None  # ("text", number) | ("pdu", length)
        self._body = b""
        self._line = b""
        self._lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="modem-standin", daemon=True)
        self._thread.start()

    # -- what tests read -------------------------------------------------------------------

    def messages(self) -> list[tuple[str, str]]:
        """Whole messages as the phone shows them: (number, text), parts joined in order."""
        with self._lock:
            parts = list(self.parts)
        out: list[tuple[str, str]] = []
        groups: dict[tuple[str, int], dict[int, ReceivedPart]] = {}
        for p in parts:
            if p.reference is None:
                out.append((p.number, p.text))
                continue
            group = groups.setdefault((p.number, p.reference), {})
            group[p.sequence] = p
            if len(group) == p.total:
                out.append((p.number, "".join(group[i].text for i in sorted(group))))
                del groups[(p.number, p.reference)]
        return out

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(5)
        for fd in (self.master, self.slave, self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> ModemStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the modem -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self.master, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            for byte in data:
                self._byte(bytes((byte,)))

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _answer(self, *lines: str) -> None:
        if self.urc and lines and lines[-1] in ("OK",):
            self._write(b'\r\n+CMTI: "SM",3\r\n')
        for line in lines:
            self._write(b"\r\n" + line.encode("ascii") + b"\r\n")

    def _error(self, code: int, cms: bool = False) -> None:
        if self._cmee == 0:
            self._answer("ERROR")
        else:
            self._answer("+%s ERROR: %d" % ("CMS" if cms else "CME", code))

    def _byte(self, b: bytes) -> None:
        if self._pending is not None:
            if b == b"\x1a":
                self._finish_message()
            elif b == b"\x1b":
                self._pending, self._body = None, b""
                self._answer("OK")
            else:
                self._body += b
            return
        if self._echo and not self.hung:
            self._write(b)
        if b < b" " and b not in (b"\r", b"\n"):
            return  # ESC or other control bytes outside a message: ignored, as modems do
        if b in (b"\r", b"\n"):
            line, self._line = self._line.decode("ascii", "replace").strip(), b""
            if line:
                with self._lock:
                    self.commands.append(line)
                if not self.hung:
                    self._command(line)
        else:
            self._line += b

    def _command(self, line: str) -> None:
        up = line.upper()
        if up in ("AT", "ATZ"):
            self._answer("OK")
        elif up == "ATE0":
            self._echo = False
            self._answer("OK")
        elif up.startswith("AT+CMEE="):
            self._cmee = int(up.split("=")[1])
            self._answer("OK")
        elif up == "AT+CPIN?":
            if self.sim == "NOT INSERTED":
                self._error(10)
            else:
                self._answer("+CPIN: %s" % self.sim, "OK")
        elif up == "AT+CREG?":
            self._answer("+CREG: 0,%d" % self.creg, "OK")
        elif up == "AT+CEREG?":
            if self.cereg is None:
                self._answer("ERROR")
            else:
                self._answer("+CEREG: 0,%d" % self.cereg, "OK")
        elif up.startswith("AT+CMGF="):
            self._cmgf = int(up.split("=")[1])
            self._answer("OK")
        elif up.startswith("AT+CSCS="):
            self._cscs = line.split("=")[1].strip('"')
            self._answer("OK")
        elif up.startswith("AT+CSMP="):
            self._dcs = int(up.split("=")[1].split(",")[3])
            self._answer("OK")
        elif up.startswith("AT+CMGS="):
            self._start_message(line.split("=", 1)[1])
        else:
            self._answer("ERROR")

    def _start_message(self, arg: str) -> None:
        if self.sim != "READY":
            self._error(310 if self.sim == "NOT INSERTED" else 311, cms=True)
            return
        if self.creg not in (1, 5) and self.cereg not in (1, 5):
            self._error(331, cms=True)
            return
        fault = self.send_faults[0] if self.send_faults else None
        if fault == "no_prompt":
            self.send_faults.pop(0)
            return
        if self._cmgf == 1:
            number = arg.strip('"')
            if self._cscs == "UCS2":
                number = from_ucs2_hex(number)
            self._pending = ("text", number)
        else:
            self._pending = ("pdu", int(arg))
        self._body = b""
        self._write(b"\r\n> ")

    def _finish_message(self) -> None:
        assert self._pending is not None
        mode, arg = self._pending
        body, self._pending, self._body = self._body.decode("ascii", "replace"), None, b""
        if self.send_faults:
            fault = self.send_faults.pop(0)
            if fault == "silent":
                return
            if fault == "ERROR":
                self._answer("ERROR")
                return
            if isinstance(fault, int):
                self._error(fault, cms=True)
                return
        if mode == "text":
            text = from_ucs2_hex(body) if self._cscs == "UCS2" else body
            part = ReceivedPart(str(arg), text, "text", self._dcs)
        else:
            # The length given must be the TPDU's, without the SMSC field, as real modems check.
            smsc = int(body[:2], 16)
            if len(body) // 2 - 1 - smsc != arg:
                self._error(304, cms=True)
                return
            pdu = decode_submit_pdu(body)
            concat = pdu.concat
            part = ReceivedPart(
                pdu.number,
                pdu.text,
                "pdu",
                8 if pdu.encoding.value == "ucs2" else 0,
                concat.reference if concat else None,
                concat.total if concat else 1,
                concat.sequence if concat else 1,
            )
        with self._lock:
            self.parts.append(part)
        self._ref = (self._ref + 1) % 256
        self._answer("+CMGS: %d" % self._ref, "OK")
