"""The MQTT source: a persistent QoS-1 subscription whose PUBACKs wait until the pipeline says so.

paho-mqtt's own network thread receives. The PUBLISH packets that lie whole in its read buffer are
parsed there and handed over as a list (`Client.on_publishes`, ``ingest/mqtt_client.py``), the rest
one by one through ``on_message``; either way they are only appended to a list, and the pipeline's
committer thread takes everything that piled up in one go (`MqttSource.take`). That keeps the
per-message cost a fraction of paho's own and lets one spool fsync cover hundreds of messages.

A message is acknowledged (`MqttSource.ack`) only after its readings are durable. Until then the
broker owns it: if the ingester dies, the broker sends it again on the next connection of the same
persistent session (fixed client id, ``clean_start`` false, a session-expiry interval). In-flight
messages are bounded by MQTT 5 Receive Maximum (with MQTT 3.1.1 by the broker's own setting) and by
``mqtt.max_inflight_bytes``: past it paho's thread stops reading until the pipeline took what waits.

A message the broker sends again (DUP set) gets back the receive time it was first given, when the
pipeline remembered one (`MqttSource.remember_stamps`): readings without a device timestamp are then
stored once. An unexpected error while taking a message drops the connection (the broker sends the
message again) instead of ending paho's thread.

Reconnection is one loop in a supervisor thread: capped, jittered exponential backoff, every attempt
logged. When the broker reports that it lost the session the subscriptions are made again.
"""

from __future__ import annotations

import hashlib
import logging
import random
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from faultline.ingest.mqtt_client import Client, Publish
from faultline.ingest.settings import MqttSettings
from faultline.vocabulary import Backoff

log = logging.getLogger(__name__)

_STAMPS_KEPT = 100_000


def topic_pattern(topic: str) -> str:
    """The topic with every level after the first as ``+``: the label a stray topic is counted under.

    >>> topic_pattern("plant/north/P-101/temp")
    'plant/+/+/+'
    >>> topic_pattern("$SYS/broker/uptime")
    '$SYS/+/+'
    """
    first, _, rest = topic.partition("/")
    return first + "/+" * (rest.count("/") + 1) if rest or topic.endswith("/") else first


def message_key(topic: str, payload: bytes | bytearray) -> int:
    """A stable 64-bit key of a message (topic and payload), for its remembered receive time.

    >>> message_key("faultline/s/a/t", b'{"value": 1}') == message_key("faultline/s/a/t", b'{"value": 1}')
    True
    """
    digest = hashlib.blake2b(payload, digest_size=8, person=topic.encode()[:16])
    return int.from_bytes(digest.digest(), "little")


def may_need_receive_time(payload: bytes | bytearray) -> bool:
    """Whether a message may have readings without a device timestamp (so they get the receive time).

    A payload without ``"ts"`` certainly does; a gateway message (``"readings"``) may. The rest
    (nearly all traffic) costs one substring test.

    >>> may_need_receive_time(b'{"value": 1}'), may_need_receive_time(b'{"ts": 1, "value": 1}')
    (True, False)
    """
    return b'"ts"' not in payload or b'"readings"' in payload


#: With ``protocol: auto``, how long an MQTT 5 CONNECT may go unanswered before the broker is asked
#: whether it answers MQTT 3.1.1 (a CONNACK on a local network takes milliseconds)
PROBE_AFTER_S = 0.5

# CONNACK codes meaning "this broker does not speak the protocol version we asked for"
_UNSUPPORTED_PROTOCOL = {
    "Unsupported protocol version",
    "Unacceptable protocol version",
    "Connection Refused: unacceptable protocol version.",
}


@dataclass(slots=True)
class Delivery:
    """Messages taken from the source together; ``messages`` is what ``Decoder.decode_many`` reads."""

    messages: list[tuple[str, bytes, int]]
    acks: list[tuple[int, int]]  # (mid, qos)
    generations: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.messages)

    def describe(self) -> str:
        """A short account for a log line: how many messages, on how many topics, e.g. which."""
        topics = {m[0] for m in self.messages}
        return f"{len(self.messages)} messages on {len(topics)} topics (e.g. {next(iter(topics), '-')})"


class MqttSource:
    """A persistent MQTT subscription with manual acknowledgement.

    Parameters
    ----------
    settings : MqttSettings
        Broker URL, session, credentials, TLS and topics.
    clock : callable returning epoch nanoseconds
        The receive time of each message.
    rng : random.Random
        Jitter of the reconnect backoff.
    on_reconnect : callable, optional
        Called (no arguments) each time a connection after the first is made; for metrics.
    on_outside : callable, optional
        Called with the topic's pattern (`topic_pattern`) for each message on a topic that none of
        ``settings.topic_filters()`` matches; for metrics.

    Such a message comes from a subscription the broker keeps in our persistent session from an
    earlier configuration. It is acknowledged in its turn and not stored; the first one of each
    pattern is logged, naming the filters in force.
    """

    def __init__(
        self,
        settings: MqttSettings,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
        on_reconnect: Callable[[], None] | None = None,
        on_outside: Callable[[str], None] | None = None,
    ):
        self.settings = settings
        self._clock = clock
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s, rng=rng or random.Random())
        self._on_reconnect = on_reconnect
        self._on_outside = on_outside
        # filters without a "$share/<group>/" prefix: the topics they match
        self._filters = [f.split("/", 2)[2] if f.startswith("$share/") else f for f in settings.topic_filters()]
        self._inside: dict[str, bool] = {}  # topic -> matched by a filter (the newest _STAMPS_KEPT topics)
        #: messages on topics outside our filters, by pattern
        self.outside: dict[str, int] = {}
        self._protocol = mqtt.MQTTv311 if settings.protocol == "3.1.1" else mqtt.MQTTv5
        self._lock = threading.Lock()  # guards the pending lists and the connection generation
        self._messages: list[tuple[str, bytes, int]] = []
        self._acks: list[tuple[int, int]] = []
        self._generations: list[int] = []
        self._generation = 0
        # bytes received and not yet taken; over max_inflight_bytes paho's thread waits (TCP backpressure)
        self._pending_bytes = 0
        self._room = threading.Event()
        #: receive times already given to messages without a device timestamp: message_key -> epoch ns.
        #: A message the broker sends again (DUP set) gets its first time back, so it is stored once
        self.stamps: dict[int, int] = {}
        self._arrived = threading.Event()
        self._taking = True
        self._stopping = threading.Event()
        self._lost = threading.Event()
        self._protocol_refused = False
        self.connected = threading.Event()
        #: unexpected errors while taking a message from paho (each one reconnects); ``on_failure`` is told
        self.receive_failures = 0
        self.on_failure: Callable[[Exception], None] | None = None
        self.connack_timeout_s = 5.0
        self.connections = 0
        self._client = self._new_client()
        self._supervisor: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying until it works) and subscribe."""
        self._supervisor = threading.Thread(target=self._supervise, name="mqtt-supervisor", daemon=True)
        self._supervisor.start()

    def stop_taking(self) -> None:
        """Stop accepting messages; ones arriving now stay unacknowledged, so the broker keeps them."""
        self._taking = False
        self._room.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect (after the acknowledgements already given are sent) and stop the threads."""
        self._taking = False
        self._stopping.set()
        self._room.set()
        try:
            self._client.disconnect()
        except Exception:  # noqa: BLE001 - a dead socket must not stop the shutdown
            log.debug("disconnect failed", exc_info=True)
        self._lost.set()
        if self._supervisor:
            self._supervisor.join(timeout)

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> bool:
        """Send one message (a Sparkplug rebirth request); False when not connected or not queued."""
        if not self.connected.is_set():
            log.warning("not connected: cannot publish to %s now", topic)
            return False
        return self._client.publish(topic, payload, qos=qos).rc == mqtt.MQTT_ERR_SUCCESS

    # -- handing messages to the pipeline --------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        """Payload bytes received and not yet taken."""
        return self._pending_bytes

    def take(self, max_messages: int = 10_000, timeout: float = 0.05, linger: float = 0.0) -> Delivery | None:
        """Everything received since the last call (up to ``max_messages`` and about
        ``settings.max_inflight_bytes``); waits up to ``timeout``.

        ``linger`` is the group commit: once a message is waiting, let the ones right behind it join for
        that long, so one spool fsync and one burst of PUBACKs cover them all. Without it a steady
        stream is taken a few messages at a time and the fsyncs, not the network, set the rate.
        """
        if not self._messages:
            self._arrived.wait(timeout)
        if linger > 0 and 0 < len(self._messages) < max_messages:
            time.sleep(linger)
        with self._lock:
            self._arrived.clear()
            if not self._messages:
                return None
            count = min(len(self._messages), max_messages)
            if self._pending_bytes > self.settings.max_inflight_bytes:
                # one delivery holds about the byte budget at most (and at least one message)
                total = 0
                for n, (_, payload, _) in enumerate(self._messages[:count]):
                    total += len(payload)
                    if total > self.settings.max_inflight_bytes and n:
                        count = n
                        break
            if count == len(self._messages):
                taken = Delivery(self._messages, self._acks, self._generations)
                self._messages, self._acks, self._generations = [], [], []
                self._pending_bytes = 0
            else:
                taken = Delivery(self._messages[:count], self._acks[:count], self._generations[:count])
                del self._messages[:count], self._acks[:count], self._generations[:count]
                self._pending_bytes -= sum(len(m[1]) for m in taken.messages)
                self._arrived.set()
        self._room.set()
        self._leave_out_outside(taken)
        return taken

    def _leave_out_outside(self, delivery: Delivery) -> None:
        """Drop from ``delivery.messages`` those on topics outside our filters (their PUBACKs stay, in order)."""
        inside = self._inside
        if all(inside.get(topic) for topic, _, _ in delivery.messages):
            return
        kept = []
        for message in delivery.messages:
            topic = message[0]
            known = inside.get(topic)
            if known is None:
                known = any(mqtt.topic_matches_sub(f, topic) for f in self._filters)
                if len(inside) >= _STAMPS_KEPT:
                    inside.clear()
                inside[topic] = known
            if known:
                kept.append(message)
            else:
                self._outside_message(topic)
        delivery.messages = kept

    def _outside_message(self, topic: str) -> None:
        pattern = topic_pattern(topic)
        seen = self.outside.get(pattern, 0)
        self.outside[pattern] = seen + 1
        if not seen:
            log.warning(
                "a message on %s is outside the topic filters %s (a subscription the broker keeps in the "
                "session %r from an earlier configuration?): acknowledged and not stored; counted in "
                "faultline_messages_outside_subscription_total{pattern=%r}, logged once per pattern",
                topic,
                ", ".join(self._filters),
                self.settings.client_id,
                pattern,
            )
        if self._on_outside is not None:
            self._on_outside(pattern)

    def remember_stamps(self, stamps: dict[int, int]) -> None:
        """Keep the receive times given to these messages (the newest ``_STAMPS_KEPT``)."""
        self.stamps.update(stamps)
        if len(self.stamps) > _STAMPS_KEPT:
            for key in list(self.stamps)[: len(self.stamps) - _STAMPS_KEPT]:
                del self.stamps[key]

    def ack(self, delivery: Delivery) -> int:
        """Send the PUBACKs of a delivery whose readings are durable; returns how many were sent.

        Messages received on a connection that has since dropped are not acknowledged on the new one
        (their packet ids may mean other messages there); the broker sends them again.
        """
        sent = 0
        with self._lock:
            current = self._generation
            mids = []
            for (mid, qos), generation in zip(delivery.acks, delivery.generations):
                if generation != current or qos == 0:
                    continue
                if qos == 1:
                    mids.append(mid)
                else:  # only if a broker upgrades our QoS-1 subscription
                    self._client.ack(mid, qos)
                    sent += 1
            self._client.ack_many(mids)
        return sent + len(mids)

    # -- paho callbacks (network thread) ---------------------------------------------------------

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        """A message paho parsed itself (see `Client.on_publishes` for the usual path)."""
        try:
            publish = Publish(message.topic, message.payload, message.mid, message.qos, message.dup)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - e.g. a topic that is not UTF-8: as a failure below
            self._receive_failed(client, repr(getattr(message, "_topic", b"?")), exc)
            return
        self._on_publishes([publish])

    def _on_publishes(self, publishes: list[Publish]) -> None:
        """Keep messages for `take` (paho's network thread), each with its receive time."""
        if not self._taking:
            return
        topic = publishes[0].topic
        try:
            messages, acks, size = [], [], 0
            for topic, payload, mid, qos, dup in publishes:
                received = self._clock()
                if may_need_receive_time(payload):
                    # remembered at once, not when the delivery is committed: a broker that restarts or
                    # reconnects resends its unacknowledged window at once, maybe before the first
                    # copies are spooled, and the resend must get the same time
                    key = message_key(topic, payload)
                    if dup:
                        received = self.stamps.setdefault(key, received)
                    else:
                        self.stamps[key] = received
                messages.append((topic, payload, received))
                acks.append((mid, qos))
                size += len(payload)
            with self._lock:
                self._messages += messages
                self._acks += acks
                self._generations += [self._generation] * len(messages)
                self._pending_bytes += size
        except Exception as exc:  # noqa: BLE001 - raised out of a callback it would end paho's thread: a stall
            self._receive_failed(self._client, topic, exc)
            return
        if not self._arrived.is_set():
            self._arrived.set()
        if self._pending_bytes > self.settings.max_inflight_bytes:
            self._wait_for_room()

    def _receive_failed(self, client, topic: str, exc: Exception) -> None:
        """Count and log the failure, and drop the connection so the broker sends the messages again
        (none of them is kept: the broker has them all unacknowledged)."""
        self.receive_failures += 1
        log.error("could not take a message on %s; reconnecting so that the broker sends it again", topic, exc_info=exc)
        if self.on_failure is not None:
            self.on_failure(exc)
        if client is not None:
            client.disconnect()

    def _wait_for_room(self) -> None:
        """Hold paho's network thread until the committer took what is waiting.

        Receive Maximum bounds messages, not bytes (100 payloads of 10 MB held 1 GB), and Mosquitto
        may release more than the quota. While this thread waits it reads nothing more from the
        socket, so TCP pushes back on the broker, which keeps the rest queued. PUBACKs queued
        meanwhile go out once it resumes; if the wait outlasts the keep-alive the broker drops the
        connection and sends the unacknowledged messages again.
        """
        while self._pending_bytes > self.settings.max_inflight_bytes and self._taking and not self._stopping.is_set():
            self._room.clear()
            if self._pending_bytes <= self.settings.max_inflight_bytes:
                break
            self._room.wait(0.5)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._protocol_refused = str(reason_code) in _UNSUPPORTED_PROTOCOL
            log.warning("broker %s refused the connection: %s", self.settings.url, reason_code)
            self._lost.set()
            return
        self.connections += 1
        self._backoff.reset()
        log.info(
            "connected to %s as %s (MQTT %s, session present: %s)",
            self.settings.url,
            self.settings.client_id,
            self.protocol,
            flags.session_present,
        )
        if not flags.session_present:
            # a new session, or the broker lost ours: it has no subscriptions for us
            for topic in self.settings.topic_filters():
                client.subscribe(topic, qos=1)
            log.info("subscribed to %s", ", ".join(self.settings.topic_filters()))
        self.connected.set()
        if self.connections > 1 and self._on_reconnect:
            self._on_reconnect()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._lock:
            self._generation += 1
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from %s: %s", self.settings.url, reason_code)
        self._lost.set()

    # -- connecting ------------------------------------------------------------------------------

    @property
    def protocol(self) -> str:
        return "5" if self._protocol == mqtt.MQTTv5 else "3.1.1"

    def _new_client(self) -> Client:
        v5 = self._protocol == mqtt.MQTTv5
        client = self._configured(
            Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.settings.client_id,
                protocol=self._protocol,
                clean_session=None if v5 else False,
                manual_ack=True,
                reconnect_on_failure=False,
            )
        )
        client.on_message = self._on_message
        client.on_publishes = self._on_publishes
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    def _configured(self, client: Client) -> Client:
        """``client`` with the settings' credentials and TLS."""
        s = self.settings
        if s.username is not None:
            client.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        if s.tls:
            client.tls_set(ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file, cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(s.tls_insecure)
        return client

    def _answers_mqtt311(self) -> bool:
        """True when the broker answers an MQTT 3.1.1 CONNECT (a throwaway clean session of its own
        client id) within ``connack_timeout_s``: asked while our MQTT 5 CONNECT waits for an answer."""
        s = self.settings
        answered = threading.Event()
        probe = self._configured(
            Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"{s.client_id}-probe",
                protocol=mqtt.MQTTv311,
                clean_session=True,
                reconnect_on_failure=False,
            )
        )
        probe.on_connect = lambda client, userdata, flags, code, properties: None if code.is_failure else answered.set()
        try:
            probe.connect(s.host, s.port, s.keepalive_s)
        except (OSError, ssl.SSLError):
            return False
        probe.loop_start()
        try:
            return answered.wait(self.connack_timeout_s)
        finally:
            probe.disconnect()
            probe.loop_stop()

    def _connect_properties(self) -> Properties | None:
        if self._protocol != mqtt.MQTTv5:
            return None
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry_s
        props.ReceiveMaximum = self.settings.receive_maximum
        return props

    def _supervise(self) -> None:
        s = self.settings
        while not self._stopping.is_set():
            self._lost.clear()
            self._protocol_refused = False
            log.info(
                "connecting to %s:%d (MQTT %s, attempt %d)", s.host, s.port, self.protocol, self._backoff.attempt + 1
            )
            try:
                if self._protocol == mqtt.MQTTv5:
                    self._client.connect(
                        s.host, s.port, s.keepalive_s, clean_start=False, properties=self._connect_properties()
                    )
                else:
                    self._client.connect(s.host, s.port, s.keepalive_s)
            except (OSError, ssl.SSLError) as exc:
                self._wait_before_retry(f"cannot connect to {s.host}:{s.port}: {exc}")
                continue
            self._client.loop_start()
            if (
                self._protocol == mqtt.MQTTv5
                and s.protocol == "auto"
                and self.connections == 0
                and not self._lost.wait(PROBE_AFTER_S)
                and not self.connected.is_set()
                and self._answers_mqtt311()
                and not self.connected.is_set()
                and not self._lost.is_set()
            ):
                # a broker that answers MQTT 3.1.1 at once but leaves our MQTT 5 CONNECT unanswered
                # (amqtt reads it as 3.1.1 and waits for bytes that never come) speaks 3.1.1 only
                log.warning(
                    "no CONNACK from %s to MQTT 5 within %.1f s, while MQTT 3.1.1 is answered", s.url, PROBE_AFTER_S
                )
                self._protocol_refused = True
                self._client.disconnect()
                self._lost.set()
            if not self._lost.wait(self.connack_timeout_s) and not self.connected.is_set():
                # some MQTT 3.1.1-only brokers (amqtt) neither answer nor close on an MQTT 5 CONNECT
                log.warning("no CONNACK from %s within %.0f s", s.url, self.connack_timeout_s)
                self._protocol_refused = self.connections == 0
                self._client.disconnect()
                self._lost.set()
            self._lost.wait()
            self._client.loop_stop()
            if self.connected.is_set():
                self._on_disconnect(self._client, None, None, "stopped", None)
            if self._stopping.is_set():
                break
            if self._protocol_refused and s.protocol == "auto" and self._protocol == mqtt.MQTTv5:
                log.warning("broker %s does not speak MQTT 5; falling back to MQTT 3.1.1", s.url)
                self._protocol = mqtt.MQTTv311
                self._client = self._new_client()
                continue
            self._wait_before_retry("connection lost")

    def _wait_before_retry(self, why: str) -> None:
        delay = self._backoff.next_delay()
        log.warning("%s; reconnecting in %.1f s", why, delay)
        self._stopping.wait(delay)


__all__ = ["Delivery", "MqttSource", "may_need_receive_time", "message_key", "topic_pattern"]
