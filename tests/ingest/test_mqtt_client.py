"""The buffered socket under paho's reads (the real-broker behaviour is in test_source.py)."""

import socket

import pytest

from faultline.ingest.mqtt_client import BufferedSocket


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
