"""The embedded MQTT broker behind `shouwang demo` when Mosquitto is not installed.

`EmbeddedBroker` runs `MqttBroker` on its own event loop in a background thread, for callers that
are not asyncio programs; `serve()` is the same broker for code that already runs an event loop.
Everything is kept in memory (see server.broker.mqtt_broker); in production use Mosquitto.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from collections.abc import Callable

from server.broker.mosquitto import BrokerError
from server.broker.mqtt_broker import BrokerConfig, MqttBroker

__all__ = ["BrokerConfig", "BrokerError", "EmbeddedBroker", "MqttBroker", "main", "serve"]

log = logging.getLogger(__name__)


async def serve(
    host: str = "127.0.0.1",
    port: int = 1883,
    config: BrokerConfig | None = None,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Run a broker until cancelled; `ready` is called with the bound port once it listens."""
    broker = MqttBroker(config)
    bound = await broker.start(host, port)
    try:
        if ready is not None:
            ready(bound)
        await asyncio.Event().wait()
    finally:
        await broker.close()


class EmbeddedBroker:
    """A broker on `host:port` (port 0 picks a free one) served from a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        config: BrokerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self._port = port
        self.config = config or BrokerConfig()
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._broker: MqttBroker | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return "mqtt://%s:%d" % (self.host, self._port)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> dict[str, int]:
        """Counters (malformed packets, drops, wills, ...) and current sizes; empty when stopped."""
        broker, loop = self._broker, self._loop
        if broker is None or loop is None or not self.running:
            return {}
        return asyncio.run_coroutine_threadsafe(self._snapshot(broker), loop).result(10)

    @staticmethod
    async def _snapshot(broker: MqttBroker) -> dict[str, int]:
        return broker.snapshot()

    def start(self) -> None:
        """Start listening and return once the port is bound; a restart reuses the same port."""
        if self.running:
            return
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="embedded-mqtt-broker", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise BrokerError("embedded broker did not start: %s" % failure[0]) from failure[0]

    def stop(self) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and thread.is_alive():
            loop.call_soon_threadsafe(stopping.set)
        thread.join()
        self._thread = None

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(ready, failure))
        except BaseException as exc:  # the thread must always release start()
            log.exception("embedded broker failed")
            failure.append(exc)
        finally:
            ready.set()
            self._loop = None
            self._broker = None
            loop.close()

    async def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        broker = MqttBroker(self.config, self._clock)
        self._port = await broker.start(self.host, self._port)
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._broker = broker
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            await broker.close()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="embedded MQTT broker (in memory; use Mosquitto in production)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass
    except BrokerError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
