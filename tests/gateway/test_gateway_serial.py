"""Serial adapter over real ptys: the gateway end is opened with pyserial like a USB port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import DeviceSettings, SerialSettings
from gateway.counters import Counters
from gateway.outbox import Outbox
from gateway.registry import Registry
from gateway.serial_adapter import NodeLines, SerialPort
from gateway.store import OutboxWriter
from gateway.unknown_devices import UnknownDevices
from protocol import serial_line as sl
from protocol.crc import crc16
from protocol.kinds import Kind
from tests.gateway.gw_support import PtyNode, wait_for


class Rig:
    def __init__(self, tmp_path: Path, devices: list[str]) -> None:
        self.node = PtyNode()
        self.counters = Counters()
        self.registry = Registry([DeviceSettings(d) for d in devices])
        self.unknown = UnknownDevices()
        self.outbox = Outbox(tmp_path / "o.db", "gw-test-01")
        self.writer = OutboxWriter(self.outbox, self.counters)
        self.port = SerialPort(SerialSettings(self.node.port), self.counters)
        self.port.handler = NodeLines(self.writer, self.registry, self.counters, self.port.write,
                                      route=self.port, unknown=self.unknown).handle
        self.writer.start()
        self.port.start()
        assert self.port.wait_open(10)

    def close(self) -> None:
        self.port.stop()
        self.writer.stop()
        self.outbox.close()
        self.node.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path, ["sn-00a3", "sn-00b1"])
    yield r
    r.close()


def test_good_lines_are_stored_then_acked(rig: Rig) -> None:
    rig.node.send(b"EV,00a3,17,panic,battery=87*18B5\n")
    assert rig.node.read_msg() == sl.SerialAck("00a3", 17, sl.AckLevel.STORED)
    [event] = rig.outbox.pending()
    assert (event.device, event.kind, event.device_seq, event.data) == ("sn-00a3", Kind.PANIC, 17,
                                                                         {"battery": 87})
    assert rig.counters.get("stored") == 1


def test_corrupt_lines_are_counted_and_neighbours_arrive(rig: Rig) -> None:
    good1 = sl.encode(sl.SerialEvent("00a3", 1, Kind.PANIC))
    good2 = sl.encode(sl.SerialEvent("00b1", 2, Kind.DOOR_OPEN, {"battery": 50}))
    good3 = sl.encode(sl.SerialEvent("00a3", 2, Kind.TEST))
    flipped = bytearray(sl.encode(sl.SerialEvent("00a3", 9, Kind.FIRE)))
    flipped[5] ^= 0x01
    garbage = b"\x00\xff\xfe noise without crc\n"
    too_long = b"EV,00a3,3,panic," + b"x" * 300 + b"*0000\n"
    non_ascii = b"EV,00a3,4,p\xe9nic*1234\n"
    rig.node.send(good1 + bytes(flipped) + garbage + good2 + too_long + non_ascii + b"\r\n" + good3)
    acks = rig.node.read_msgs(3)
    assert acks == [sl.SerialAck("00a3", 1, sl.AckLevel.STORED), sl.SerialAck("00b1", 2, sl.AckLevel.STORED),
                    sl.SerialAck("00a3", 2, sl.AckLevel.STORED)]
    assert [(e.device, e.device_seq) for e in rig.outbox.pending()] == [("sn-00a3", 1), ("sn-00b1", 2),
                                                                        ("sn-00a3", 2)]
    assert rig.counters.group("dropped") == {"bad_crc": 1, "bad_frame": 2, "too_long": 1}


def test_unknown_kind_and_unknown_device_get_a_nak(rig: Rig) -> None:
    body = b"EV,00a3,5,earthquake"
    rig.node.send(body + b"*%04X\n" % crc16(body))
    assert rig.node.read_msg() == sl.SerialNak("00a3", 5, "unknown_kind")
    rig.node.event("0fff", 1, Kind.PANIC)
    assert rig.node.read_msg() == sl.SerialNak("0fff", 1, "unknown_device")
    assert rig.outbox.backlog == 0
    assert [s.device for s in rig.unknown.seen()] == ["sn-0fff"]
    assert rig.counters.group("rejected") == {"unknown_device": 1, "unknown_kind": 1}


def test_retransmission_is_reacked_not_stored_twice(rig: Rig) -> None:
    line = rig.node.event("00a3", 40, Kind.PANIC, battery=80)
    assert rig.node.read_msg() == sl.SerialAck("00a3", 40, sl.AckLevel.STORED)
    rig.node.send(line)
    assert rig.node.read_msg() == sl.SerialAck("00a3", 40, sl.AckLevel.STORED)
    assert rig.outbox.backlog == 1
    wait_for(lambda: rig.counters.get("duplicates") == 1, what="duplicate counted")


def test_port_that_does_not_exist_is_retried_not_fatal(tmp_path: Path) -> None:
    counters = Counters()
    port = SerialPort(SerialSettings(str(tmp_path / "ttyNONE")), counters)
    port.start()
    wait_for(lambda: counters.get("errors.serial_open") >= 1, what="open error counted")
    port.write(b"AK,1,1,stored*0000\n")  # not open: counted, not raised
    port.stop()
    assert counters.get("errors.serial_write") == 1


def test_port_that_goes_away_is_counted_and_reopened(tmp_path: Path) -> None:
    node = PtyNode()
    counters = Counters()
    port = SerialPort(SerialSettings(node.port), counters)
    port.start()
    try:
        assert port.wait_open(10)
        os.close(node.master)  # the USB adapter is pulled: reads fail with EIO
        wait_for(lambda: counters.get("errors.serial_read") >= 1, what="read error counted")
        wait_for(lambda: counters.get("errors.serial_open") + counters.get("errors.serial_read") >= 2,
                 what="reopen attempted")
    finally:
        port.stop()
        os.close(node.slave)
