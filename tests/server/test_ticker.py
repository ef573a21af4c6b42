"""The background loop of the deadline check and the panel supervisor outlives a failing step."""

from __future__ import annotations

import threading

import pytest

from server.ticker import Ticker


def test_a_failing_step_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    third = threading.Event()

    def step() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("database away")
        if len(calls) == 3:
            third.set()

    ticker = Ticker("deadlines", 0.01, step)
    ticker.start()
    try:
        assert third.wait(10), calls
    finally:
        ticker.stop()
    assert ticker._thread is None
    (record,) = [r for r in caplog.records if r.name == "server.ticker"]
    message = "deadlines: a tick failed (tried again at the next)"
    assert (record.levelname, record.getMessage()) == ("ERROR", message)
    assert "database away" in (record.exc_text or "")


def test_stop_ends_the_thread_and_a_stopped_ticker_starts_again() -> None:
    ran = threading.Event()
    ticker = Ticker("sia-supervision", 0.01, ran.set)
    ticker.start()
    assert ran.wait(10)
    ticker.stop()
    ran.clear()
    ticker.start()
    try:
        assert ran.wait(10)
    finally:
        ticker.stop()
