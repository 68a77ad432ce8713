"""The embedded broker: an in-process amqtt broker (MQTT 3.1.1) for a machine that has none.

``faultline ingest`` without a configuration file uses the broker on 127.0.0.1:1883 when one answers
and otherwise starts this one there, so a newcomer can publish to Faultline with nothing installed.
amqtt keeps sessions in memory only: it is for the demo and for trying things out, not for a plant,
where Mosquitto with ``config/mosquitto.conf`` holds the data of a stopped ingester.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amqtt.broker import Broker

log = logging.getLogger(__name__)


def broker_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """An amqtt broker running on its own asyncio loop in a background thread.

    Parameters
    ----------
    host, port : where to listen (anonymous clients allowed; bind to 127.0.0.1 unless you mean it).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883):
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Broker | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[asyncio.Transport] = set()

    def start(self, timeout: float = 10.0) -> "EmbeddedBroker":
        started = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            from amqtt.broker import Broker

            connections = self._connections

            class TrackingBroker(Broker):
                # amqtt's shutdown waits for client connections to end (Server.wait_closed) and
                # does not end them itself; keep their transports so stop() can close them.
                async def stream_connected(self, reader, writer, listener_name):
                    connections.add(writer.transport)
                    try:
                        await super().stream_connected(reader, writer, listener_name)
                    finally:
                        connections.discard(writer.transport)

            config = {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                # only anonymous auth: amqtt's default packet and $SYS plugins cost time per message
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
            broker = self._broker = TrackingBroker(config)
            await broker.start()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(serve())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                started.set()
                return
            started.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise RuntimeError(f"embedded MQTT broker did not start on {self.host}:{self.port} within {timeout} s")
        if failure:
            raise RuntimeError(
                f"embedded MQTT broker could not start on {self.host}:{self.port}: {failure[0]}"
            ) from failure[0]
        log.info("started the embedded MQTT 3.1.1 broker on %s:%d (sessions kept in memory only)", self.host, self.port)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if not self._loop or not self._thread:
            return

        async def shutdown() -> None:
            for transport in list(self._connections):
                transport.abort()
            if self._broker is not None:
                await asyncio.wait_for(self._broker.shutdown(), timeout)

        future = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        try:
            future.result(timeout + 1)
        except Exception:  # noqa: BLE001 - stopping anyway
            log.warning("embedded broker did not shut down cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["EmbeddedBroker", "broker_answers"]
