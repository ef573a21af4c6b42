"""The alarm-panel receiver's one setting: --sia-listen / SHOUWANG_SIA_LISTEN."""

from __future__ import annotations

import pytest

from server.errors import ConfigError
from server.settings import Settings

GOOD = "k2V9q7Zr4mWx8tLp3bNc6hJd1sFg5aYe0uQi"


def test_unset_means_no_receiver() -> None:
    s = Settings.load({"SHOUWANG_SECRET": GOOD, "SHOUWANG_SIA_LISTEN": ""})
    assert (s.sia_listen, s.sia_addr) == (None, None)


def test_the_flag_wins_over_the_variable() -> None:
    env = {"SHOUWANG_SECRET": GOOD, "SHOUWANG_SIA_LISTEN": "0.0.0.0:12128"}
    assert Settings.load(env).sia_addr == ("0.0.0.0", 12128)
    assert Settings.load(env, sia_listen="[::1]:9999").sia_addr == ("::1", 9999)


@pytest.mark.parametrize("value", ["12128", "host:", "127.0.0.1:0", "127.0.0.1:70000"])
def test_a_bad_address_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.load({"SHOUWANG_SECRET": GOOD, "SHOUWANG_SIA_LISTEN": value})
    assert str(err.value) == "SHOUWANG_SIA_LISTEN: listen address must be HOST:PORT, got %r" % value
