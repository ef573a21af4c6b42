"""The whole system in processes: real Mosquitto, `shouwang server run`, `shouwang gateway run`."""

from __future__ import annotations

import json
import queue
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties

from shouwang.local_stack import GatewayDevice, GatewayProcess, ServerProcess, write_gateway_config
from shouwang.mosquitto import Mosquitto

GATEWAY = "gw-dongcun-01"
DEVICES = [
    GatewayDevice("sn-00a3", "sw-panic-button", "东村 3 组 呼叫按钮"),
    GatewayDevice("sn-00a4", "sw-door-sensor", "东村小卖部 门磁"),
]


class Subscriber:
    """A real MQTT client collecting what arrives on some topics into a queue."""

    def __init__(self, url: str, topics: list[str]) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.messages: queue.Queue[tuple[str, bytes, float]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        subscribed = queue.Queue[bool]()

        def on_connect(c: mqtt.Client, u: Any, f: Any, rc: Any, p: Properties | None = None) -> None:
            c.subscribe([(t, 1) for t in topics])

        def on_subscribe(c: mqtt.Client, u: Any, mid: int, rcs: Any, p: Properties | None = None) -> None:
            subscribed.put(True)

        def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
            self.messages.put((msg.topic, msg.payload, time.monotonic()))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect(host, int(port))
        self.client.loop_start()
        subscribed.get(timeout=10)

    def get(self, timeout: float = 10.0) -> tuple[str, Any]:
        topic, payload, _ = self.messages.get(timeout=timeout)
        return topic, json.loads(payload)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Stack:
    workdir: Path
    broker: Mosquitto
    server: ServerProcess
    gateway: GatewayProcess | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def start_gateway(self, ports: list[str], gateway_id: str = GATEWAY) -> GatewayProcess:
        config = write_gateway_config(
            self.workdir / gateway_id / "gateway.toml",
            gateway_id,
            self.workdir / gateway_id,
            self.broker.url,
            ports,
            DEVICES,
        )
        self.gateway = GatewayProcess(config, self.workdir / gateway_id / "gateway.log")
        self.gateway.start()
        return self.gateway

    def server_rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        db = self.server.db_url.removeprefix("sqlite:///")
        with sqlite3.connect(db, timeout=10) as conn:
            return conn.execute(sql, params).fetchall()

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.gateway is not None:
                self.gateway.check_alive()
            self.server.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s" % what)
            time.sleep(0.1)
