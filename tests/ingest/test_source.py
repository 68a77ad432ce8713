"""The MQTT source against real brokers: protocol fallback, re-subscription, acknowledgement rules."""

import contextlib
import socket
import logging
import threading
import time

import pytest

from faultline.ingest.broker import EmbeddedBroker
from faultline.ingest.settings import MqttSettings
from faultline.ingest.source import Delivery, MqttSource
from tests.ingest.publishing import publish, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.servers


def taken(source, n, timeout=10):
    """Take deliveries until ``n`` messages came; returns them joined."""
    got = []
    deadline = time.monotonic() + timeout
    while sum(map(len, got)) < n and time.monotonic() < deadline:
        d = source.take(timeout=0.1)
        if d:
            got.append(d)
    assert sum(map(len, got)) == n, f"took {sum(map(len, got))} of {n} messages"
    return got


@contextlib.contextmanager
def running(settings):
    """A started source, connected; stopped afterwards."""
    source = MqttSource(settings)
    source.start()
    try:
        assert source.connected.wait(10)
        yield source
    finally:
        source.stop()


def message(i):
    return "faultline/s1/pump1/bearing_temp", b'{"value": %d}' % i


def subscribed(source, port):
    """Publish probes until one arrives (a new session's SUBACK may trail its CONNACK, and what is
    published before it is not routed to us); every probe is acknowledged."""

    def probe():
        publish(port, [("faultline/s1/probe/x", b"probe")])
        delivery = source.take(timeout=0.2)
        if delivery:
            source.ack(delivery)
        return delivery

    wait_for(probe, 10, "the subscription", interval=0.2)
    while (delivery := source.take(timeout=0.3)) is not None:
        source.ack(delivery)


def test_auto_falls_back_to_mqtt_311_on_a_broker_that_only_speaks_it(caplog):
    """amqtt leaves an MQTT 5 CONNECT unanswered: the source asks whether MQTT 3.1.1 is answered after
    half a second, rather than waiting out the CONNACK timeout (5 s)."""
    port = free_port()
    with EmbeddedBroker(port=port):
        source = MqttSource(
            MqttSettings(url=f"mqtt://127.0.0.1:{port}", client_id="fallback", protocol="auto", reconnect_min_s=0.05)
        )
        assert source.connack_timeout_s == 5.0
        with caplog.at_level(logging.WARNING, logger="faultline.ingest.source"):
            source.start()
            try:
                assert source.connected.wait(15)
                assert source.protocol == "3.1.1"
                publish(port, [message(1)])
                [d] = taken(source, 1)
                assert source.ack(d) == 1
            finally:
                source.stop()
    assert "falling back to MQTT 3.1.1" in caplog.text
    assert "to MQTT 5 within 0.5 s, while MQTT 3.1.1 is answered" in caplog.text  # the probe, not the timeout
    assert "within 5 s" not in caplog.text


@pytest.mark.servers
def test_auto_falls_back_to_mqtt_311_on_nats(caplog):
    """nats-server, a real broker that speaks MQTT 3.1.1 only, refuses MQTT 5 with a CONNACK."""
    from tests.servers import NatsMqtt

    with NatsMqtt() as nats:
        source = MqttSource(
            MqttSettings(url=nats.url, client_id="fallback-nats", protocol="auto", reconnect_min_s=0.05)
        )
        with caplog.at_level(logging.WARNING, logger="faultline.ingest.source"):
            source.start()
            try:
                assert source.connected.wait(15)
                assert source.protocol == "3.1.1"
                publish(nats.port, [message(7)])
                [d] = taken(source, 1)
                assert source.ack(d) == 1
            finally:
                source.stop()
    assert "does not speak MQTT 5; falling back to MQTT 3.1.1" in caplog.text
    assert "no CONNACK" not in caplog.text


def test_resubscribes_when_the_broker_lost_the_session():
    port = free_port()
    broker = EmbeddedBroker(port=port).start()  # amqtt keeps sessions in memory: a restart loses them
    source = MqttSource(
        MqttSettings(
            url=f"mqtt://127.0.0.1:{port}",
            client_id="resub",
            protocol="3.1.1",
            reconnect_min_s=0.05,
            reconnect_max_s=0.2,
        )
    )
    source.start()
    try:
        assert source.connected.wait(10)
        broker.stop()
        wait_for(lambda: not source.connected.is_set(), 10, "the source to notice")
        broker = EmbeddedBroker(port=port).start()
        wait_for(lambda: source.connected.is_set() and source.connections == 2, 15, "reconnect")
        wait_for(
            lambda: publish(port, [message(2)]) or source.take(timeout=0.2),
            10,
            "a message on the new session (only if subscribed again)",
            interval=0.2,
        )
    finally:
        source.stop()
        broker.stop()


def test_messages_of_a_dropped_connection_are_not_acknowledged_on_the_next(own_mosquitto):
    settings = MqttSettings(url=own_mosquitto.url, client_id="generations", reconnect_min_s=0.05, reconnect_max_s=0.2)
    source = MqttSource(settings)
    source.start()
    try:
        assert source.connected.wait(10)
        publish(own_mosquitto.port, [message(i) for i in range(5)])
        before = taken(source, 5)
        own_mosquitto.restart()
        wait_for(lambda: source.connections == 2 and source.connected.is_set(), 15, "reconnect")
        assert sum(source.ack(d) for d in before) == 0  # their packet ids belong to the old connection
        # the broker kept them (persistent session, never acknowledged) and sends them again
        again = taken(source, 5)
        assert sorted(p for d in again for _, p, _ in d.messages) == sorted(message(i)[1] for i in range(5))
        assert sum(source.ack(d) for d in again) == 5
    finally:
        source.stop()


def test_stop_taking_leaves_new_messages_with_the_broker(own_mosquitto):
    settings = MqttSettings(url=own_mosquitto.url, client_id="stop-taking", reconnect_min_s=0.05)
    source = MqttSource(settings)
    source.start()
    assert source.connected.wait(10)
    source.stop_taking()
    publish(own_mosquitto.port, [message(9)])
    assert source.take(timeout=0.5) is None
    source.stop()
    second = MqttSource(settings)
    second.start()
    try:
        [d] = taken(second, 1)
        assert d.messages[0][1] == message(9)[1]
    finally:
        second.stop()


def test_receive_maximum_bounds_unacknowledged_messages(mosquitto):
    settings = MqttSettings(url=mosquitto.url, client_id="receive-max", receive_maximum=10)
    with running(settings) as source:
        publisher = threading.Thread(target=publish, args=(mosquitto.port, [message(i) for i in range(50)]))
        publisher.start()
        first = taken(source, 10)
        time.sleep(0.5)  # give the broker the chance to overstep
        assert source.take(timeout=0.1) is None, "the broker sent more than Receive Maximum unacknowledged"
        # acknowledging releases the rest (Mosquitto 2.0.11 then sends more than the quota from its
        # queue at once, so only the first window is asserted)
        got = 0
        for d in first:
            source.ack(d)
        while got < 40:
            d = source.take(timeout=5)
            assert d is not None, f"took {got} of the remaining 40"
            got += len(d)
            source.ack(d)
        publisher.join(10)


def test_bytes_received_and_not_taken_stay_within_max_inflight_bytes(mosquitto):
    # Receive Maximum bounds messages, not bytes: 100 payloads of 10 MB once held 1 GB
    cap, size = 1024**2, 300_000
    settings = MqttSettings(url=mosquitto.url, client_id="inflight-bytes", max_inflight_bytes=cap)
    with running(settings) as source:
        payloads = [("faultline/s/a/wave", bytes([i]) * size) for i in range(20)]
        publisher = threading.Thread(target=publish, args=(mosquitto.port, payloads))
        publisher.start()
        wait_for(lambda: source.pending_bytes >= cap, 10, "the budget to fill")
        time.sleep(0.5)  # give paho the chance to read past it
        assert source.pending_bytes <= cap + size, f"{source.pending_bytes} bytes waiting, budget {cap}"
        got = []
        while len(got) < 20:
            d = source.take(timeout=5)
            assert d is not None, f"took {len(got)} of 20"
            assert sum(len(p) for _, p, _ in d.messages) <= cap + size
            got += [p[0] for _, p, _ in d.messages]
            source.ack(d)
        assert sorted(got) == list(range(20))
        publisher.join(10)


def test_an_error_while_taking_a_message_reconnects_and_the_broker_sends_it_again(own_mosquitto):
    # raised out of paho's callback, it ended paho's network thread: a silent, permanent stall
    settings = MqttSettings(url=own_mosquitto.url, client_id="receive-error", reconnect_min_s=0.1, reconnect_max_s=0.5)
    calls, armed = [], []

    def clock():
        if armed:
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("injected: a bug while receiving")
        return time.time_ns()

    source = MqttSource(settings, clock=clock)
    source.start()
    try:
        assert source.connected.wait(10)
        subscribed(source, own_mosquitto.port)
        armed.append(True)
        publish(own_mosquitto.port, [message(i) for i in range(5)])
        seen = set()
        deadline = time.monotonic() + 20
        while len(seen) < 5 and time.monotonic() < deadline:  # unacknowledged ones may come twice
            d = source.take(timeout=0.1)
            seen |= {p for _, p, _ in d.messages} if d else set()
        assert seen == {message(i)[1] for i in range(5)}
        assert source.receive_failures == 1 and source.connections == 2
    finally:
        source.stop()


def test_default_subscription_delivers_a_gateway_message_once(mosquitto):
    source = MqttSource(MqttSettings(url=mosquitto.url, client_id="gateway-once"))
    source.start()
    try:
        assert source.connected.wait(10)
        wait_for(
            lambda: (
                publish(mosquitto.port, [("faultline/s1/_gateway/gw1", b'{"readings": []}')])
                or source.take(timeout=0.2)
            ),
            10,
            "the subscription",
            interval=0.2,
        )
        publish(mosquitto.port, [("faultline/s1/_gateway/gw1", b'{"readings": [1]}')])
        got = [m for d in iter(lambda: source.take(timeout=0.5), None) for m in d.messages]
        assert [p for _, p, _ in got].count(b'{"readings": [1]}') == 1
    finally:
        source.stop()


def test_acknowledged_messages_are_not_sent_again_and_the_others_are(own_mosquitto):
    # the PUBACKs of a group go out as one write (ingest.mqtt_client.Client.ack_many); the broker
    # must read every one of them, and only them
    settings = MqttSettings(url=own_mosquitto.url, client_id="ack-many", reconnect_min_s=0.05)
    with running(settings) as source:
        publish(own_mosquitto.port, [message(i) for i in range(20)])
        deliveries = taken(source, 20)
        everything = Delivery(
            [m for d in deliveries for m in d.messages],
            [a for d in deliveries for a in d.acks],
            [g for d in deliveries for g in d.generations],
        )
        acked = Delivery(everything.messages[:12], everything.acks[:12], everything.generations[:12])
        assert source.ack(acked) == 12
        time.sleep(0.5)  # the PUBACKs are written by paho's network thread
    with running(settings) as second:
        again = taken(second, 8)
        assert sorted(p for d in again for _, p, _ in d.messages) == sorted(p for _, p, _ in everything.messages[12:])
        assert second.take(timeout=1.0) is None


class RefusingBroker:
    """Just enough of a broker that speaks only MQTT 3.1.1: it refuses an MQTT 5 CONNECT with
    ``refusal`` and then accepts 3.1.1 (CONNACK, SUBACK, PINGRESP). A stand-in because neither
    Mosquitto nor amqtt can be told to refuse MQTT 5 with a CONNACK (amqtt does not answer at all,
    the test above)."""

    def __init__(self, refusal: bytes):
        self.refusal = refusal
        self.levels: list[int] = []  # protocol level of each CONNECT
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def _packet(conn) -> tuple[int | None, bytes]:
        head = conn.recv(1)
        if not head:
            return None, b""
        length, shift = 0, 0
        while True:
            byte = conn.recv(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = b""
        while len(body) < length:
            body += conn.recv(length - len(body))
        return head[0] >> 4, body

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                _, connect = self._packet(conn)
                self.levels.append(connect[6])  # after the length-prefixed protocol name "MQTT"
                if connect[6] == 5:
                    conn.sendall(self.refusal)
                    continue
                conn.sendall(b"\x20\x02\x00\x00")
                try:
                    while (packet := self._packet(conn))[0] is not None:
                        kind, body = packet
                        if kind == 8:  # SUBSCRIBE: grant QoS 1
                            conn.sendall(b"\x90\x03" + body[:2] + b"\x01")
                        elif kind == 12:  # PINGREQ
                            conn.sendall(b"\xd0\x00")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    "refusal", [b"\x20\x02\x00\x01", b"\x20\x03\x00\x84\x00"], ids=["3.1.1 return code 1", "MQTT 5 reason 0x84"]
)
def test_auto_falls_back_to_mqtt_311_when_the_broker_refuses_mqtt_5(refusal, caplog):
    broker = RefusingBroker(refusal)
    source = MqttSource(
        MqttSettings(url=f"mqtt://127.0.0.1:{broker.port}", client_id="refused", protocol="auto", reconnect_min_s=0.05)
    )
    try:
        with caplog.at_level(logging.WARNING, logger="faultline.ingest.source"):
            source.start()
            assert source.connected.wait(10)
        assert source.protocol == "3.1.1" and broker.levels == [5, 4]
        assert "falling back to MQTT 3.1.1" in caplog.text
    finally:
        source.stop()
        broker.close()


def test_messages_outside_the_topic_filters_are_counted_logged_once_and_acknowledged(own_mosquitto, caplog):
    """The broker keeps the subscription of an earlier configuration in the persistent session: its
    messages are acknowledged (in their turn), not stored, counted per pattern and logged once."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    earlier = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="narrowed", protocol=mqtt.MQTTv311, clean_session=False
    )
    earlier.connect("127.0.0.1", own_mosquitto.port)
    earlier.loop_start()
    earlier.subscribe("faultline/+/+/+", qos=1)[1]
    time.sleep(0.5)
    earlier.disconnect()
    earlier.loop_stop()

    counted: list[str] = []
    settings = MqttSettings(
        url=own_mosquitto.url, client_id="narrowed", protocol="3.1.1", subscribe=["faultline/north/+/+"]
    )
    source = MqttSource(settings, on_outside=counted.append)
    source.start()
    try:
        assert source.connected.wait(10)
        with caplog.at_level(logging.WARNING, logger="faultline.ingest.source"):
            publish(
                own_mosquitto.port,
                [
                    ("faultline/south/F-201/temp", b'{"value": 1}'),
                    ("faultline/north/P-101/temp", b'{"value": 2}'),
                    ("faultline/south/F-202/temp", b'{"value": 3}'),
                ],
            )
            deliveries, deadline = [], time.monotonic() + 10
            while sum(len(d.acks) for d in deliveries) < 3 and time.monotonic() < deadline:
                if (d := source.take(timeout=0.1)) is not None:  # one of stray messages only holds no message
                    deliveries.append(d)
        assert [t for d in deliveries for t, _, _ in d.messages] == ["faultline/north/P-101/temp"]
        assert sum(source.ack(d) for d in deliveries) == 3  # the stray ones are acknowledged too
        assert counted == ["faultline/+/+/+", "faultline/+/+/+"] and source.outside == {"faultline/+/+/+": 2}
        assert caplog.text.count("is outside the topic filters faultline/north/+/+") == 1
        time.sleep(0.5)  # the PUBACKs are written by paho's network thread
    finally:
        source.stop()
    # acknowledged: nothing comes again on the next connection
    with running(settings) as again:
        assert again.take(timeout=1.0) is None


def test_a_resend_that_arrives_before_the_first_copy_is_committed_keeps_its_receive_time():
    """A broker that restarts or reconnects resends its whole unacknowledged window at once, maybe
    before the first copies were spooled: the resend (DUP) of a message without a device timestamp
    gets the first copy's receive time, not a new one (the fault soak stored a window twice)."""
    import itertools

    import paho.mqtt.client as paho

    from faultline.ingest.settings import MqttSettings
    from faultline.ingest.source import MqttSource

    times = itertools.count(1_764_000_000_000_000_000, 1_000_000)
    source = MqttSource(MqttSettings(url="mqtt://127.0.0.1:1"), clock=lambda: next(times))

    def message(mid, payload, dup):
        m = paho.MQTTMessage(mid=mid, topic=b"faultline/s1/pump1/temp")
        m.payload, m.qos, m.dup = payload, 1, dup
        return m

    source._on_message(None, None, message(1, b'{"value": 7}', False))
    source._on_message(None, None, message(2, b'{"ts": 5, "value": 8}', False))
    source._on_message(None, None, message(1, b'{"value": 7}', True))  # nothing committed yet
    taken = source.take(10, timeout=0.1)
    first, _, again = (received for _, _, received in taken.messages)
    assert again == first


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_messages_of_every_size_arrive_whole_and_in_order_through_both_read_paths(mosquitto, protocol):
    """Most PUBLISH packets are parsed straight from the read buffer (`Client.on_publishes`); one cut by
    the buffer's end, or larger than it, goes through paho. Either way each message arrives once,
    whole, in order, with its packet id, and is acknowledged."""
    settings = MqttSettings(url=mosquitto.url, client_id=f"sizes-{protocol}", protocol=protocol)
    sizes = [7, 120, 5_000, 70_000, 1, 300_000, 40, 16_000] * 12
    sent = [(f"faultline/s1/pump{i % 3}/vib", b"%06d" % i + b"x" * size) for i, size in enumerate(sizes)]
    parsed: list[int] = []
    with running(settings) as source:
        subscribed(source, mosquitto.port)
        deliver = source._client.on_publishes
        source._client.on_publishes = lambda publishes: (parsed.append(len(publishes)), deliver(publishes))
        publish(mosquitto.port, sent, window=20)
        deliveries = taken(source, len(sent), timeout=30)
        got = [(topic, payload) for d in deliveries for topic, payload, _ in d.messages]
        assert got == sent
        mids = [mid for d in deliveries for mid, _ in d.acks]
        assert len(set(mids)) == len(mids) and all(mids)
        for d in deliveries:
            source.ack(d)
        time.sleep(
            0.5
        )  # as above: paho's thread writes the PUBACKs, the broker reads them before the session is resumed
    assert 0 < sum(parsed) < len(sent), "both paths were taken"
    with running(settings) as again:
        assert again.take(timeout=1.0) is None, "every message was acknowledged"
