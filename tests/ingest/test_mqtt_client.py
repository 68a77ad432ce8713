"""The buffered socket under paho's reads and the PUBLISH parser (the real-broker behaviour is in test_source.py)."""

import socket

import pytest
from hypothesis import given, strategies as st
from paho.mqtt import _packet as paho_packet
from paho.mqtt.client import MQTTv5, MQTTv311
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from faultline.ingest.mqtt_client import BufferedSocket, Publish, read_publishes

# MQTT's Variable Byte Integer is protobuf's varint (base 128, least significant group first)
from tests.ingest.sparkplug_wire import varint


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    yield BufferedSocket(a), b
    a.close()
    b.close()


def test_small_reads_come_from_one_receive_and_pending_counts_what_is_left(pair):
    ours, peer = pair
    peer.sendall(b"\x30\x05hello\x40\x02\x00\x07")
    assert ours.recv(1) == b"\x30"
    assert ours.pending() == 10
    assert ours.recv(1) == b"\x05"
    assert ours.recv(5) == b"hello"
    assert ours.recv(100) == b"\x40\x02\x00\x07"  # a short read: what is buffered, not a wait
    assert ours.pending() == 0
    with pytest.raises(BlockingIOError):  # nothing buffered and nothing to read: as the socket says
        ours.recv(1)


def test_a_body_split_across_receives_is_read_in_parts(pair):
    ours, peer = pair
    peer.sendall(b"abc")
    assert ours.recv(1) == b"a"
    assert ours.recv(10) == b"bc"
    peer.sendall(b"defg")
    assert ours.recv(10) == b"defg"


def test_end_of_stream_reads_empty_and_other_calls_reach_the_socket(pair):
    ours, peer = pair
    assert ours.fileno() == ours._sock.fileno()
    assert ours.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM
    peer.close()
    assert ours.recv(1) == b""


# -- PUBLISH packets parsed from the buffer (Client.on_publishes) -------------------------------------


def publish_packet(topic: bytes, payload: bytes, mid: int, qos: int, dup: bool, props: bytes | None) -> bytes:
    """A PUBLISH as a broker sends it (MQTT 3.1.1 / 5 section 3.3); ``props``: MQTT 5 properties, packed."""
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"")
    body += (props if props is not None else b"") + payload
    return bytes([0x30 | (8 if dup and qos else 0) | qos << 1]) + varint(len(body)) + body


def v5_properties(expiry: int | None, content_type: str | None, user: list[tuple[str, str]]) -> bytes:
    props = Properties(PacketTypes.PUBLISH)
    if expiry is not None:
        props.MessageExpiryInterval = expiry
    if content_type is not None:
        props.ContentType = content_type
    if user:
        props.UserProperty = user
    return props.pack()


texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
publishes = st.lists(
    st.tuples(
        texts.filter(bool).map(str.encode),
        st.binary(max_size=300),
        st.integers(1, 65535),
        st.sampled_from([0, 1]),
        st.booleans(),
        st.one_of(st.none(), st.integers(0, 2**32 - 1)),
        st.one_of(st.none(), texts),
        st.lists(st.tuples(texts, texts), max_size=2),
    ),
    max_size=8,
)


@given(publishes, st.booleans(), st.integers(0, 4000), st.binary(max_size=3))
def test_publishes_parsed_from_a_buffer_are_those_paho_decodes_up_to_the_first_cut_packet(items, mqtt5, cut, prefix):
    """Whatever the packets and wherever the buffer ends, the parser returns exactly the whole packets
    before the cut, as paho's own decoder reads them, and stops at the start of the cut one."""
    packets, expected = [], []
    for topic, payload, mid, qos, dup, expiry, content_type, user in items:
        props = v5_properties(expiry, content_type, user) if mqtt5 else None
        packet = publish_packet(topic, payload, mid, qos, dup, props)
        packets.append(packet)
        # paho decodes what follows the fixed header (the type byte and the remaining length)
        body_start = next(n for n in range(2, 6) if varint(len(packet) - n) == packet[1:n])
        decoded = paho_packet.decode_publish(packet[0], packet[body_start:], MQTTv5 if mqtt5 else MQTTv311)
        expected.append(Publish(decoded.topic.decode(), decoded.payload, decoded.mid, decoded.qos, decoded.dup))
    stream = b"".join(packets)
    buf = prefix + stream[: min(cut, len(stream))]
    out: list[Publish] = []
    end = read_publishes(buf, len(prefix), mqtt5, out)
    whole, offset = 0, len(prefix)
    for packet in packets:
        if offset + len(packet) > len(buf):
            break
        offset += len(packet)
        whole += 1
    assert out == expected[:whole]
    assert end == offset


@pytest.mark.parametrize(
    "packet, why",
    [
        (publish_packet(b"a/b", b"x", 1, 1, False, None)[:-1], "cut by the end of the buffer"),
        (bytes([0x34]) + varint(6) + b"\x00\x01a\x00\x01x", "QoS 2: paho's path"),
        (bytes([0x32]) + varint(6) + b"\x00\x00\x00\x01\x00x", "empty topic (a topic alias): paho's path"),
        (bytes([0x32]) + varint(7) + b"\x00\x02\xff\xfe\x00\x01x", "topic not UTF-8: paho's path"),
        (bytes([0x32]) + b"\xff\xff\xff\xff\x01", "a remaining length over four bytes: paho reports it"),
        (bytes([0x32]) + varint(9) + b"\x00\x09abc", "topic longer than the packet"),
        (bytes([0x90, 3, 0, 1, 1]), "SUBACK: paho's"),
    ],
)
def test_the_parser_leaves_other_packets_to_paho(packet, why):
    out: list[Publish] = []
    assert read_publishes(packet, 0, False, out) == 0, why
    assert out == []
