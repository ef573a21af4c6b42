"""Downlink commands through a real broker to a virtual node on a pty; CLI tools."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gateway import cli
from gateway.config import DeviceSettings, load_settings
from gateway.daemon import Gateway
from gateway.errors import ConfigError
from gateway.tools import add_device
from gateway.unknown_devices import UnknownDevices
from protocol import serial_line as sl
from protocol.kinds import Kind
from shouwang.mosquitto import Mosquitto
from tests.gateway.gw_support import WAIT, FakeClock, FakeServer, PtyNode, settings, wait_for
from tests.gateway.test_gateway_outbox import ev

GW = "gw-test-01"


def test_siren_command_reaches_the_node_and_its_result_comes_back(tmp_path: Path, broker: Mosquitto) -> None:
    node = PtyNode()
    clock = FakeClock()
    server = FakeServer(broker.host, broker.port, GW).start()
    gw = Gateway(settings(tmp_path, broker.url, [node.port], ["sn-00a3"]), monotonic=clock)
    gw.start()
    try:
        assert gw.uplink is not None and gw.uplink.connected.wait(WAIT)
        node.event("00a3", 1, Kind.HEARTBEAT)  # the gateway learns which port reaches sn-00a3
        node.read_msgs(2)
        server.command({"id": "c1", "op": "siren", "device": "sn-00a3", "on": True})
        cmd = node.read_msg()
        assert isinstance(cmd, sl.SerialCommand)
        assert (cmd.node, cmd.op, cmd.args) == ("00a3", "siren", {"on": 1})
        clock.advance(1.5)  # no answer yet: the gateway repeats the same line
        assert node.read_msg() == cmd
        node.send(sl.encode(sl.SerialCommandResult("00a3", cmd.seq, True, {"siren": 1})))
        assert server.results.get(timeout=WAIT) == {"id": "c1", "ok": True, "device": "sn-00a3", "siren": 1}
        node.send(sl.encode(sl.SerialCommandResult("00a3", cmd.seq, True, {"siren": 1})))  # late repeat
        wait_for(lambda: gw.counters.get("dropped.stale_command_result") == 1, what="stale result")

        server.command({"id": "c2", "op": "identify", "device": "sn-00a3"})
        assert isinstance(node.read_msg(), sl.SerialCommand)
        clock.advance(11)  # node never answers
        result = server.results.get(timeout=WAIT)
        assert result == {"id": "c2", "ok": False, "device": "sn-00a3", "error": "timeout"}

        server.command({"id": "c3", "op": "siren", "device": "gateway", "on": True})
        assert server.results.get(timeout=WAIT) == {"id": "c3", "ok": True, "device": "gateway",
                                                    "siren": True}
        assert gw.outputs.state == {"relay": False, "siren": True}
        server.command({"id": "c4", "op": "relay", "device": "sn-0bad", "on": False})
        assert server.results.get(timeout=WAIT)["error"] == "unreachable"
        server.command({"id": "c5", "op": "siren", "device": "sn-00a3", "on": "yes"})
        assert server.results.get(timeout=WAIT)["error"] == "bad_args"
    finally:
        gw.stop()
        server.stop()
        node.close()


def test_reload_and_pairing_commands(tmp_path: Path, broker: Mosquitto) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text('[gateway]\nid = "%s"\ndata_dir = "data"\n[mqtt]\nurl = "%s"\n' % (GW, broker.url))
    server = FakeServer(broker.host, broker.port, GW).start()
    gw = Gateway(load_settings(conf), monotonic=FakeClock())
    gw.start()
    try:
        assert gw.uplink is not None and gw.uplink.connected.wait(WAIT)
        gw.ble_advert("A4:C1:38:8D:18:B2", bytes.fromhex("40005201643a04"))
        server.command({"id": "p1", "op": "start_pairing", "seconds": 60})
        assert server.results.get(timeout=WAIT) == {"id": "p1", "ok": True, "pairing_s": 60,
                                                   "unknown_devices": ["ble-a4c1388d18b2"]}
        add_device(conf, "ble-a4c1388d18b2", "东村 3 号 按钮", model="shelly-blu-button1", location="3 号")
        server.command({"id": "r1", "op": "reload_config"})
        assert server.results.get(timeout=WAIT) == {"id": "r1", "ok": True, "devices": 1}
        gw.ble_advert("A4:C1:38:8D:18:B2", bytes.fromhex("40005301643a04"))
        wait_for(lambda: any(e["kind"] == "panic" for e in server.received()), what="panic after pairing")
        assert gw.unknown.seen() == []
    finally:
        gw.stop()
        server.stop()


def test_alarms_jump_a_status_backlog_and_order_holds_per_priority(tmp_path: Path, broker: Mosquitto) -> None:
    s = settings(tmp_path, broker.url, [], ["sn-00a3"], batch_size=100, max_inflight_batches=1)
    gw = Gateway(s, monotonic=FakeClock())
    gw.start()
    server = FakeServer(broker.host, broker.port, GW, auto_ack=False)
    try:
        assert gw.writer is not None and gw.uplink is not None
        gw.uplink.stop()  # build the backlog with nobody sending
        for i in range(1, 251):
            gw.writer.submit(ev("sn-00b1", i, Kind.HEARTBEAT))
        gw.writer.submit(ev("sn-00a3", 1, Kind.PANIC))
        gw.writer.submit(ev("sn-00a3", 2, Kind.PANIC_CANCEL))
        done: list[bool] = []
        gw.writer.call(lambda box: done.append(True))
        wait_for(lambda: bool(done))
    finally:
        gw.stop()
    server.start()
    gw = Gateway(s, monotonic=FakeClock())
    gw.start()
    try:
        wait_for(lambda: server.batches == 1, what="first batch")
        first = server.received()
        assert [e["kind"] for e in first[:2]] == ["panic", "panic_cancel"]
        assert [e["device_seq"] for e in first[2:]] == list(range(1, 99))
        server.ack([int(e["id"].rsplit(":", 1)[1]) for e in first])
        wait_for(lambda: server.batches == 2, what="second batch")
        assert [e["device_seq"] for e in server.received()[100:]] == list(range(99, 199))
    finally:
        gw.stop()
        server.stop()


def run_cli(argv: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    old_in, old_out = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = io.StringIO(stdin), out
    try:
        code = cli.main(argv)
    finally:
        sys.stdin, sys.stdout = old_in, old_out
    return code, out.getvalue()


def test_cli_decode_contract() -> None:
    code, out = run_cli(["decode", "--transport", "ble", "--address", "A4:C1:38:8D:18:B2"],
                        "40005201643a04\n40005201643a04\nzz\n40ee\n")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"line": 1, "device": "ble-a4c1388d18b2", "kind": None,  # no config: no model to map it
         "data": {"battery": 100, "packet_id": 82, "button": "button", "event": "long_press"}},
        {"line": 2, "device": "ble-a4c1388d18b2", "rejected": "duplicate", "detail": "packet id 82"},
        {"line": 3, "device": None, "rejected": "undecodable", "detail": "not hex"},
        {"line": 4, "device": "ble-a4c1388d18b2", "rejected": "undecodable",
         "detail": "unknown object id 0xee"},
    ]
    code, out = run_cli(["decode", "--transport", "ble", "--address", "54:48:E6:8F:80:A5",
                         "--key", "231d39c1d7cc1ab1aee224cd096db932"],
                        "4187b90011223372b0231f\n4187b90011223372b0231f\n")
    assert [json.loads(line) for line in out.splitlines()] == [
        {"line": 1, "device": "ble-5448e68f80a5", "kind": None, "data": {"motion": True},
         "device_seq": 0x33221100},
        {"line": 2, "device": "ble-5448e68f80a5", "rejected": "duplicate", "detail": "counter 857870592"},
    ]
    code, out = run_cli(["decode", "--transport", "serial"],
                        "EV,00a3,17,panic,battery=87*18B5\nEV,00a3,17,panic,battery=87*18B5\n"
                        "EV,00a3,17,panic,battery=88*18B5\n")
    assert [json.loads(line) for line in out.splitlines()] == [
        {"line": 1, "device": "sn-00a3", "kind": "panic", "data": {"battery": 87}, "device_seq": 17},
        {"line": 2, "device": "sn-00a3", "rejected": "duplicate", "detail": "seq 17"},
        {"line": 3, "device": None, "rejected": "bad_crc", "detail": "18B5 != E95A"},
    ]
    code, out = run_cli(["decode", "--transport", "rtl433"],
                        (Path(__file__).resolve().parents[1] / "vectors" / "rtl_433.jsonl").read_text())
    assert [json.loads(line)["data"]["code"] for line in out.splitlines()] == ["c0", "0c", "03", "30"]
    code, _ = run_cli(["decode", "--transport", "ble", "--key", "xyz", "--address", "A4:C1:38:8D:18:B2"], "")
    assert code == 2


def test_cli_pair_devices_status(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text('[gateway]\nid = "%s"\ndata_dir = "data"\n[[devices]]\nid = "sn-00a3"\nname = "a"\n' % GW)
    (tmp_path / "data").mkdir()
    heard = UnknownDevices(tmp_path / "data", clock=lambda: 1.0)  # what a running gateway heard
    heard.open()
    for _ in range(3):
        heard.saw("rf-ev1527-045a42", "rf", "06")
    heard.close()
    code, out = run_cli(["devices", "--config", str(conf), "--json"])
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["allowed", "unknown"]
    code, out = run_cli(["pair", "--config", str(conf)], "1\n东村 5 号 挂件\n\npanic\n5 号院\n")
    assert code == 0, out
    models = "ev1527-door, ev1527-panic, kerui-door, kerui-pir, kerui-water-leak"
    assert "型号 / model (%s; empty = none): " % models in out
    s = load_settings(conf)
    assert s.devices[1] == DeviceSettings("rf-ev1527-045a42", "东村 5 号 挂件", kind="panic",
                                          location="5 号院")
    code, out = run_cli(["devices", "--config", str(conf), "--json"])
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["allowed", "allowed"]
    with pytest.raises(ConfigError, match="already paired"):
        add_device(conf, "sn-00a3", "x")
    with pytest.raises(ConfigError, match=r"not one of"):
        add_device(conf, "sn-00a4", "x", kind="explosion")
    assert load_settings(conf).devices == s.devices
    gw = Gateway(replace(s, mqtt=replace(s.mqtt, url="mqtt://127.0.0.1:9")))
    gw.start()
    assert gw.writer is not None
    gw.writer.submit(ev("sn-00a3", 1, Kind.PANIC))
    gw.stop()
    code, out = run_cli(["status", "--config", str(conf)])
    report = json.loads(out)
    assert (report["backlog"], report["backlog_by_priority"]["alarm"], report["devices"]) == (1, 1, 2)
    code, _ = run_cli(["status"])
    assert code == 2


def test_local_siren_sounds_on_alarm_without_uplink_and_stops_by_itself(tmp_path: Path) -> None:
    from gateway.config import OutputSettings
    from shouwang.processes import free_port

    log = tmp_path / "siren.log"
    script = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"
    outputs = OutputSettings(siren=(sys.executable, "-c", script, str(log), "{on}"), siren_on_alarm=True,
                             siren_s=60.0)
    node = PtyNode()
    clock = FakeClock()
    s = settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port(), [node.port], ["sn-00a3"])
    gw = Gateway(replace(s, outputs=outputs), monotonic=clock)
    gw.start()
    try:
        assert gw.ports[0].wait_open(WAIT)
        node.event("00a3", 1, Kind.HEARTBEAT)
        node.read_msg()
        assert gw.outputs.state == {"relay": False, "siren": False}  # the safe state at start
        node.event("00a3", 2, Kind.PANIC)
        assert node.read_msg() == sl.SerialAck("00a3", 2, sl.AckLevel.STORED)
        wait_for(lambda: gw.outputs.state.get("siren"), what="siren on")
        assert gw.counters.get("outputs.siren_on_alarm") == 1
        clock.advance(61)
        wait_for(lambda: not gw.outputs.state["siren"], what="siren off")
        wait_for(lambda: log.read_text().split() == ["0", "1", "0"], what="siren off by its timer")
        assert gw.counters.get("outputs.siren_on_alarm") == 1
    finally:
        gw.stop()
        node.close()


def siren_gateway(tmp_path: Path, node: PtyNode, pin: Path) -> Gateway:
    """A gateway whose siren output writes its level to ``pin``, as a GPIO line holds it."""
    from gateway.config import OutputSettings
    from shouwang.processes import free_port

    script = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    outputs = OutputSettings(siren=(sys.executable, "-c", script, str(pin), "{on}"), siren_on_alarm=True,
                             siren_s=120.0)
    s = settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port(), [node.port], ["sn-00a3"])
    return Gateway(replace(s, outputs=outputs), monotonic=FakeClock())


def test_the_siren_goes_off_when_the_gateway_stops_while_it_sounds(tmp_path: Path) -> None:
    pin = tmp_path / "siren-pin"
    node = PtyNode()
    gw = siren_gateway(tmp_path, node, pin)
    gw.start()
    try:
        assert gw.ports[0].wait_open(WAIT)
        node.event("00a3", 1, Kind.PANIC)
        assert node.read_msg() == sl.SerialAck("00a3", 1, sl.AckLevel.STORED)
        wait_for(lambda: pin.read_text() == "1", what="siren on")
    finally:
        gw.stop()  # mid-siren: 120 s of it were left
        node.close()
    assert pin.read_text() == "0"
    assert gw.outputs.state == {"relay": False, "siren": False}


def test_a_siren_left_on_by_a_crash_is_switched_off_at_start(tmp_path: Path) -> None:
    pin = tmp_path / "siren-pin"
    pin.write_text("1")  # the gateway died while the siren sounded; the output kept its level
    node = PtyNode()
    gw = siren_gateway(tmp_path, node, pin)
    gw.start()
    try:
        assert pin.read_text() == "0"  # before any event: start() put it in the safe state
        assert gw.status()["outputs"] == {"relay": False, "siren": False}
    finally:
        gw.stop()
        node.close()


def test_a_failing_output_does_not_stop_the_gateway_starting_or_stopping(tmp_path: Path) -> None:
    from gateway.config import OutputSettings
    from shouwang.processes import free_port

    s = settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port())
    gw = Gateway(replace(s, outputs=OutputSettings(siren=(str(tmp_path / "no-such-gpioset"), "{on}"))))
    gw.start()
    try:
        assert gw.counters.get("errors.output") == 1
        assert gw.outbox is not None and gw.uplink is not None
    finally:
        gw.stop()
    assert gw.counters.get("errors.output") == 2
