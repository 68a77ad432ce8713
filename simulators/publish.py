"""Publishing over MQTT: QoS 1 in acknowledged windows, paced in simulated time.

paho-mqtt 2.2.0 can stall when a QoS-1 burst of ~100,000 messages is queued at once (paho PR #880),
so at most ``window`` messages are unacknowledged at any time; the next waits for a PUBACK.
"""

from __future__ import annotations

import heapq
import threading
import time
import urllib.parse
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator

from faultline.simulators.faults import Label
from faultline.simulators.gateway import GatewayWire, Message
from faultline.simulators.payloads import asset_messages, combine_gateway_messages
from faultline.simulators.run import SimulationRun, rng_stream

__all__ = ["BrokerError", "MqttPublisher", "PublishReport", "publish_messages", "publish_run", "run_messages"]


class BrokerError(RuntimeError):
    """Raised when the broker cannot be reached or stops acknowledging."""


def parse_broker(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` (or ``host:port``) → (host, port); port defaults to 1883."""
    parsed = urllib.parse.urlsplit(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise ValueError(f"broker {url!r} is not an mqtt://host:port address")
    return parsed.hostname, parsed.port or 1883


class MqttPublisher:
    """A paho-mqtt client publishing at QoS 1 with at most ``window`` messages unacknowledged.

    Use as a context manager; `publish` blocks while the window is full, `flush` until every
    message is acknowledged.
    """

    def __init__(self, broker: str, client_id: str = "", window: int = 100, timeout_s: float = 30.0):
        import paho.mqtt.client as mqtt

        self.host, self.port = parse_broker(broker)
        self.broker = broker
        self.window = window
        self.timeout_s = timeout_s
        self._sent = 0
        self._acked = 0
        self._cond = threading.Condition()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self._client.max_inflight_messages_set(window)
        self._client.max_queued_messages_set(0)
        self._client.on_publish = self._on_publish

    def _on_publish(self, client, userdata, mid, reason_code=None, properties=None) -> None:
        with self._cond:
            self._acked += 1
            self._cond.notify_all()

    def __enter__(self) -> "MqttPublisher":
        try:
            self._client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise BrokerError(f"cannot connect to broker {self.broker}: {exc}") from exc
        self._client.loop_start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                self.flush()
        finally:
            self._client.disconnect()
            self._client.loop_stop()

    def _wait(self, limit: int) -> None:
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            while self._sent - self._acked > limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrokerError(
                        f"broker {self.broker} acknowledged {self._acked} of {self._sent} "
                        f"messages and then nothing for {self.timeout_s:.0f} s"
                    )
                self._cond.wait(left)

    def publish(self, topic: str, payload: bytes) -> None:
        self._wait(self.window - 1)
        with self._cond:
            self._sent += 1
        info = self._client.publish(topic, payload, qos=1)
        if info.rc != 0:
            raise BrokerError(f"publish to {topic} on {self.broker} failed with code {info.rc}")

    def flush(self) -> None:
        self._wait(0)


@dataclass
class PublishReport:
    """What was sent: messages and readings per (topic, format), and the labels with wire counts."""

    messages: dict[tuple[str, str], int] = field(default_factory=dict)
    readings: dict[tuple[str, str], int] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)
    elapsed_s: float = 0.0
    interrupted: bool = False

    @property
    def total_messages(self) -> int:
        return sum(self.messages.values())

    @property
    def total_readings(self) -> int:
        return sum(self.readings.values())

    def count(self, msg: Message) -> None:
        key = (msg.topic, msg.format)
        self.messages[key] = self.messages.get(key, 0) + 1
        self.readings[key] = self.readings.get(key, 0) + msg.readings


def run_messages(run: SimulationRun) -> tuple[Iterator[Message], dict[str, GatewayWire]]:
    """All messages of a run in send order, each gateway's through its wire faults.

    Returns the message stream and the `GatewayWire` per gateway, whose tallies fill in as the
    stream is consumed.
    """
    wires = {g.id: GatewayWire(g, rng_stream(run.seed, "gateway", g.id)) for g in run.fleet.gateways}
    direct: list[Iterator[Message]] = []
    via: dict[str, list[Iterator[Message]]] = {g: [] for g in wires}
    for table in run.tables.values():
        stream = asset_messages(run.fleet, table)
        (via[table.asset.gateway] if table.asset.gateway else direct).append(stream)
    streams = direct + [
        wires[g].shape(combine_gateway_messages(heapq.merge(*s, key=lambda m: m.at_ns))) for g, s in via.items() if s
    ]
    # out-of-order messages break the order within their gateway on purpose; merge is still fine
    return heapq.merge(*streams, key=lambda m: m.at_ns), wires


def wire_labels(labels: list[Label], wires: dict[str, GatewayWire]) -> list[Label]:
    """The labels with what each wire fault actually duplicated, delayed or corrupted."""
    out: list[Label] = []
    position: dict[str, int] = {}
    for label in labels:
        if label.kind == "gateway" and label.gateway in wires:
            i = position.get(label.gateway, 0)
            position[label.gateway] = i + 1
            tally = wires[label.gateway].tally[i]
            if label.fault_mode in ("duplicate", "out_of_order", "malformed"):
                label = replace(
                    label,
                    params={
                        **label.params,
                        "messages": tally.messages,
                        "readings": tally.readings,
                        "corrupted_messages": tally.corrupted_messages,
                        "intact_readings": tally.intact_readings,
                    },
                )
        out.append(label)
    return out


def publish_messages(
    messages: Iterable[Message],
    publisher,
    speed: float,
    report: PublishReport,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Publish in send order, pacing so ``speed`` simulated seconds pass per real second.

    ``speed`` 0 publishes as fast as the broker acknowledges. ``publisher`` needs ``publish(topic,
    payload)``; ``clock`` and ``sleep`` are passed in so tests can run paced code without waiting.
    ``progress(simulated ns)`` is called with each message's simulated time.
    """
    started = clock()
    first_ns = None
    for msg in messages:
        if progress is not None:
            progress(msg.at_ns)
        if speed > 0:
            first_ns = msg.at_ns if first_ns is None else first_ns
            ahead = (msg.at_ns - first_ns) / 1e9 / speed - (clock() - started)
            if ahead > 0:
                sleep(ahead)
        publisher.publish(msg.topic, msg.payload)
        report.count(msg)


def publish_run(
    run: SimulationRun,
    broker: str,
    speed: float = 0.0,
    window: int = 100,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int], None] | None = None,
) -> PublishReport:
    """Publish a whole run to ``broker``; the report's labels carry the gateway wire-fault counts.

    Ctrl-C stops publishing cleanly: what was sent is acknowledged and the report says ``interrupted``.
    ``progress(simulated seconds published, seconds in the run)`` follows the messages' simulated time.
    """
    messages, wires = run_messages(run)
    report = PublishReport()
    started = time.monotonic()
    start_ns, total_s = int(run.start.timestamp() * 1e9), int(run.duration.total_seconds())
    moved = None
    if progress is not None:

        def moved(at_ns: int) -> None:
            progress(min(total_s, max(0, (at_ns - start_ns) // 1_000_000_000)), total_s)

    with MqttPublisher(broker, window=window) as publisher:
        try:
            publish_messages(messages, publisher, speed, report, clock, sleep, moved)
        except KeyboardInterrupt:
            # a live run stopped by hand still gets its labels, counted up to what was sent
            report.interrupted = True
    report.elapsed_s = time.monotonic() - started
    report.labels = wire_labels(run.labels, wires)
    return report
