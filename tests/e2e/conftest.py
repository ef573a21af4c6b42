"""Fixtures for end-to-end tests; the machinery lives in support.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shouwang.demo import SEED
from shouwang.local_stack import ServerProcess
from shouwang.mosquitto import Mosquitto
from tests.e2e.support import Stack


@pytest.fixture
def stack(tmp_path: Path, broker: Mosquitto) -> Iterator[Stack]:
    server = ServerProcess(tmp_path / "server", broker.url, seed=SEED)
    server.start()
    st = Stack(tmp_path, broker, server)
    try:
        yield st
    finally:
        if st.gateway is not None:
            st.gateway.stop()
        for close in st.closers:
            close()
        server.stop()
