"""Shared fixtures: a real Mosquitto per test on a free loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from shouwang.mosquitto import Mosquitto, mosquitto_binary

REPO = Path(__file__).resolve().parent.parent
TEST_BROKER_CONF = REPO / "tests" / "mosquitto" / "test.conf.in"

# In CI the property tests draw the same examples every run, so a red run can be reproduced;
# locally they keep exploring.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed (.ci/run installs it)")
    with Mosquitto(tmp_path / "broker", template=TEST_BROKER_CONF) as mosq:
        yield mosq
