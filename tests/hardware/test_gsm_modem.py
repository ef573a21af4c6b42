"""The GSM modem driver against a modem stand-in on a real pty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hardware.gsm_modem import GsmModem, ModemError, ModemStatus, SendReport, mask_number
from protocol.sms import Encoding, Reason
from tests.modem_standin import ModemStandIn, ReceivedPart

NUMBER = "+8613800138000"


@pytest.fixture
def standin() -> Iterator[ModemStandIn]:
    with ModemStandIn() as s:
        yield s


def modem(standin: ModemStandIn, **kw: float) -> GsmModem:
    return GsmModem(standin.port, command_timeout=kw.get("command_timeout", 2.0),
                    send_timeout=kw.get("send_timeout", 2.0))  # fmt: skip


def failure(m: GsmModem, number: str, text: str) -> ModemError:
    with pytest.raises(ModemError) as exc:
        m.send(number, text)
    return exc.value


def test_ascii_text_goes_in_text_mode(standin: ModemStandIn) -> None:
    with modem(standin) as m:
        report = m.send(NUMBER, "Panic at Dongcun station, case 12")
    assert report == SendReport(NUMBER, 1, Encoding.GSM7, False, "text", (1,))
    assert standin.parts == [ReceivedPart(NUMBER, "Panic at Dongcun station, case 12", "text", 0)]
    assert 'AT+CSCS="IRA"' in standin.commands
    assert m.counters() == {"sent": 1, "parts_sent": 1, "failures": {}, "last_error": None}


def test_short_chinese_goes_in_text_mode_as_ucs2(standin: ModemStandIn) -> None:
    with modem(standin) as m:
        report = m.send("10086", "紧急求助：东村服务站")
    assert report == SendReport("10086", 1, Encoding.UCS2, False, "text", (1,))
    assert standin.parts == [ReceivedPart("10086", "紧急求助：东村服务站", "text", 8)]
    assert 'AT+CSCS="UCS2"' in standin.commands
    assert "AT+CSMP=17,167,0,8" in standin.commands


def test_long_chinese_goes_as_concatenated_pdus(standin: ModemStandIn) -> None:
    text = "【守望】紧急求助：东村服务站 张三家 一键报警，08:00 起无人受理。请立即处理：http://127.0.0.1:8000/#/cases/12"
    with modem(standin) as m:
        report = m.send(NUMBER, text)
    assert report == SendReport(NUMBER, 2, Encoding.UCS2, False, "pdu", (1, 2))
    assert [(p.mode, p.dcs, p.total, p.sequence) for p in standin.parts] == [
        ("pdu", 8, 2, 1),
        ("pdu", 8, 2, 2),
    ]
    assert standin.messages() == [(NUMBER, text)]
    assert m.counters()["parts_sent"] == 2


def test_extension_characters_go_in_pdu_mode(standin: ModemStandIn) -> None:
    with modem(standin) as m:
        report = m.send(NUMBER, "case [12] {panic}")
    assert report == SendReport(NUMBER, 1, Encoding.GSM7, False, "pdu", (1,))
    assert standin.messages() == [(NUMBER, "case [12] {panic}")]


def test_too_long_is_truncated_with_a_mark(standin: ModemStandIn) -> None:
    with GsmModem(standin.port, command_timeout=2, send_timeout=2, max_parts=2) as m:
        report = m.send(NUMBER, "警" * 500)
    assert report.truncated and report.parts == 2
    ((_, text),) = standin.messages()
    assert text == "警" * 133 + "…"


def test_status(standin: ModemStandIn) -> None:
    with modem(standin) as m:
        assert m.status() == ModemStatus(None, True)
        standin.creg, standin.cereg = 2, 0
        assert m.status() == ModemStatus(None, False)
        standin.cereg = None  # a 2G modem without +CEREG, registered roaming
        standin.creg = 5
        assert m.status() == ModemStatus(None, True)
        standin.sim = "SIM PIN"
        assert m.status() == ModemStatus(Reason.SIM_LOCKED, False)


def test_only_lte_registration_counts_too(standin: ModemStandIn) -> None:
    standin.creg, standin.cereg = 0, 1
    with modem(standin) as m:
        m.send(NUMBER, "hello")
    assert standin.messages() == [(NUMBER, "hello")]


@pytest.mark.parametrize(
    ("setup", "reason", "code"),
    [
        ({"sim": "NOT INSERTED"}, Reason.NO_SIM, None),
        ({"sim": "SIM PIN"}, Reason.SIM_LOCKED, None),
        ({"creg": 3, "cereg": 0}, Reason.NO_NETWORK, None),
        ({"send_faults": [330]}, Reason.NO_SMSC, 330),
        ({"send_faults": [331]}, Reason.NO_NETWORK, 331),
        ({"send_faults": [500]}, Reason.MODEM_ERROR, 500),
        ({"send_faults": [21]}, Reason.REJECTED, 21),
        ({"send_faults": ["ERROR"]}, Reason.MODEM_ERROR, None),
    ],
)
def test_each_failure_is_raised_and_counted_by_reason(
    standin: ModemStandIn, setup: dict[str, object], reason: Reason, code: int | None
) -> None:
    for key, value in setup.items():
        setattr(standin, key, value)
    with modem(standin) as m:
        err = failure(m, NUMBER, "hello")
        assert (err.reason, err.code) == (reason, code)
        assert m.counters()["failures"] == {reason.value: 1}
        assert m.counters()["sent"] == 0
    assert standin.parts == []


def test_a_silent_send_times_out_then_the_next_one_goes(standin: ModemStandIn) -> None:
    standin.send_faults = ["silent"]
    with modem(standin, send_timeout=0.5) as m:
        err = failure(m, NUMBER, "first")
        assert err.reason is Reason.TIMEOUT
        m.send(NUMBER, "second")
        assert m.counters()["failures"] == {"timeout": 1}
    assert standin.messages() == [(NUMBER, "second")]


def test_a_missing_prompt_times_out(standin: ModemStandIn) -> None:
    standin.send_faults = ["no_prompt"]
    with modem(standin, command_timeout=0.5) as m:
        assert failure(m, NUMBER, "x").reason is Reason.TIMEOUT
        m.send(NUMBER, "again")
    assert standin.messages() == [(NUMBER, "again")]


def test_a_hung_modem_times_out_on_open(standin: ModemStandIn) -> None:
    standin.hung = True
    m = modem(standin, command_timeout=0.3)
    assert failure(m, NUMBER, "x").reason is Reason.TIMEOUT
    assert m.counters()["failures"] == {"timeout": 1}


def test_a_bad_number_is_refused_before_the_modem(standin: ModemStandIn) -> None:
    with modem(standin) as m:
        assert failure(m, "call me", "x").reason is Reason.BAD_NUMBER
    assert not any(c.startswith("AT+CMGS") for c in standin.commands)


def test_a_missing_port_is_counted(tmp_path: object) -> None:
    m = GsmModem("/dev/nonexistent-modem")
    assert failure(m, NUMBER, "x").reason is Reason.PORT
    assert m.counters()["failures"] == {"port": 1}


def test_numbers_are_masked_in_logs() -> None:
    assert mask_number("+8613800138000") == "**********8000"
