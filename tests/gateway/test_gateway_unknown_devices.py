"""The unknown devices heard, in memory and in ``devices.db`` for the CLI in another process."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import GatewayError
from gateway.tools import read_sightings
from gateway.unknown_devices import DB_FILE, Sighting, UnknownDevices
from tests.gateway.gw_support import FakeClock


def test_sightings_reach_the_table_and_the_next_run(tmp_path: Path) -> None:
    clock = FakeClock(100.0)
    heard = UnknownDevices(tmp_path, clock=clock)
    heard.open()
    heard.saw("rf-ev1527-0abcde", "rf", "01")
    clock.advance(5)
    heard.saw("ble-a4c1388d18b2", "ble", "unknown object id 0xee")
    clock.advance(5)
    heard.saw("rf-ev1527-0abcde", "rf")
    assert heard.dirty
    heard.save()
    assert not heard.dirty
    expected = [Sighting("rf-ev1527-0abcde", "rf", 100.0, 110.0, 2, "01"),
                Sighting("ble-a4c1388d18b2", "ble", 105.0, 105.0, 1, "unknown object id 0xee")]
    assert read_sightings(tmp_path) == expected  # what `shouwang gateway pair` reads
    heard.forget(["rf-ev1527-0abcde"])  # paired
    heard.close()
    assert read_sightings(tmp_path) == expected[1:]
    again = UnknownDevices(tmp_path, clock=clock)
    again.open()
    try:
        assert again.seen() == expected[1:] and len(again) == 1
    finally:
        again.close()


def test_the_list_is_bounded_in_the_table_too(tmp_path: Path) -> None:
    clock = FakeClock()
    heard = UnknownDevices(tmp_path, clock=clock, limit=3)
    heard.open()
    for n in range(5):
        clock.advance(1)
        heard.saw("rf-ev1527-%06x" % n, "rf")
    heard.close()
    assert [s.device for s in read_sightings(tmp_path)] == ["rf-ev1527-000004", "rf-ev1527-000003",
                                                           "rf-ev1527-000002"]


def test_a_failed_save_is_kept_for_the_next_one(tmp_path: Path) -> None:
    heard = UnknownDevices(tmp_path)
    heard.open()
    heard.saw("rf-ev1527-0abcde", "rf")
    assert heard._db is not None
    heard._db.close()  # the database went away under the gateway
    heard.save()
    assert heard.dirty
    heard._db = None
    heard.open()
    heard.save()
    heard.close()
    assert [s.device for s in read_sightings(tmp_path)] == ["rf-ev1527-0abcde"]


def test_reading_without_a_table_and_from_a_broken_file(tmp_path: Path) -> None:
    assert read_sightings(tmp_path) == []
    (tmp_path / DB_FILE).write_bytes(b"not a database, just bytes" * 100)
    with pytest.raises(GatewayError, match="cannot read"):
        read_sightings(tmp_path)
    with pytest.raises(GatewayError, match="cannot open"):
        UnknownDevices(tmp_path).open()


def test_without_a_data_dir_the_list_lives_in_memory_only() -> None:
    heard = UnknownDevices()
    heard.open()
    heard.saw("sn-0fff", "serial", "panic")
    heard.close()
    assert [s.device for s in heard.seen()] == ["sn-0fff"]
