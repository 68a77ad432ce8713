"""Test helpers: publish to a real broker reliably, and wait for a condition without fixed sleeps."""

from __future__ import annotations

import itertools
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

_ids = itertools.count()


def publish(port: int, messages, window: int = 200, timeout: float = 30.0) -> None:
    """Publish ``(topic, payload)`` pairs at QoS 1 in windows, waiting for every PUBACK.

    paho 2.2.0 can stall on a large QoS-1 burst, so at most ``window`` messages are in flight.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-publisher-{next(_ids)}", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(window)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        messages = list(messages)
        for start in range(0, len(messages), window):
            infos = [client.publish(t, p, qos=1) for t, p in messages[start : start + window]]
            for info in infos:
                info.wait_for_publish(timeout)
                assert info.is_published(), f"broker on port {port} did not acknowledge a publish in {timeout} s"
    finally:
        client.disconnect()
        client.loop_stop()


def wait_for(check, timeout: float = 30.0, what: str = "condition", interval: float = 0.05):
    """Poll ``check()`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def create_session(port: int, client_id: str, filters=("faultline/#",), expiry_s: int = 3600) -> None:
    """Make the ingester's persistent session exist, subscribed, before it first runs.

    Messages published afterwards are queued by the broker for ``client_id`` (as they are for a
    production ingester whose session outlives a restart), so a test can publish without racing the
    ingester's first subscription.
    """
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_subscribe = lambda *args: subscribed.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry_s
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    try:
        client.subscribe([(topic, 1) for topic in filters])
        assert subscribed.wait(10), f"broker on port {port} did not acknowledge the subscription"
    finally:
        client.disconnect()
        client.loop_stop()


class Running:
    """``run_ingest`` in a thread, stopped like SIGTERM would stop it."""

    def __init__(self, settings, **kwargs):
        self.stop = threading.Event()
        self.result = []
        from faultline.ingest.pipeline import run_ingest

        self.thread = threading.Thread(
            target=lambda: self.result.append(
                run_ingest(
                    settings.mqtt,
                    settings.store,
                    settings.spool,
                    settings.ingest,
                    settings.metrics,
                    stop=self.stop,
                    **kwargs,
                )
            )
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        assert self.result == [0]
