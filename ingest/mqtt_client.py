"""paho-mqtt's client with buffered reads and one write for many acknowledgements.

Profiling the ingester against a bare paho subscriber showed that most of paho's per-message cost
is system calls, not MQTT: for every incoming PUBLISH its network loop calls ``select`` and then
``recv`` once for the packet type, once per byte of the remaining length and once for the body;
and every PUBACK is one wake-up write to paho's socket pair plus one ``send``. `Client` changes
only that:

* the socket is wrapped in `BufferedSocket`, which reads up to 64 KiB per ``recv`` and serves paho's
  small reads from memory, and reports what it holds through ``pending()``, the hook paho already
  uses for TLS sockets' decrypted bytes;
* `Client.loop_read` keeps handling packets while whole ones are buffered (paho's own handles one
  per loop turn for a QoS-1 subscriber);
* `Client.ack_many` queues the PUBACKs of a whole group commit as one packet: the same four bytes
  per message that paho's ``ack()`` sends (MQTT 5 allows leaving out the reason code when it is
  Success and there are no properties, section 3.4.2.1; MQTT 3.1.1 PUBACKs are always these four
  bytes, section 3.4).

Measured with 100,000 queued single-reading messages from Mosquitto, decoding each with
``json.loads`` and acknowledging automatically: 58 µs of CPU per message with paho's client, 37 µs
with buffered reads alone.

It relies on paho's internals (``_create_socket``, ``_packet_queue``), so paho-mqtt is pinned
exactly in ``pyproject.toml``; the ingest tests run it against a real Mosquitto, with and without
TLS.
"""

from __future__ import annotations

import struct

import paho.mqtt.client as mqtt

__all__ = ["BufferedSocket", "Client"]

_READ_SIZE = 65536
_PUBACK = 0x40
_MAX_PACKETS_PER_TURN = 1000  # then paho's loop gets a turn for writes, keep-alive and the stop flag
_PUBACK_PACKET = struct.Struct("!BBH")


class BufferedSocket:
    """A connected socket whose small reads are served from a buffer filled 64 KiB at a time.

    Everything but ``recv`` and ``pending`` goes to the wrapped socket (plain, TLS or websocket).
    """

    __slots__ = ("_sock", "_buf", "_pos")

    def __init__(self, sock):
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes; raises what the socket raises when nothing is buffered or readable."""
        pos = self._pos
        if pos >= len(self._buf):
            data = self._sock.recv(max(bufsize, _READ_SIZE))
            if len(data) <= bufsize:
                self._buf, self._pos = b"", 0
                return data
            self._buf, pos = data, 0
        end = min(pos + bufsize, len(self._buf))
        self._pos = end
        return self._buf[pos:end]

    def pending(self) -> int:
        """Bytes that can be read without waiting: ours, plus a TLS socket's decrypted ones."""
        inner = getattr(self._sock, "pending", None)
        return len(self._buf) - self._pos + (inner() if inner is not None else 0)

    def fileno(self) -> int:
        return self._sock.fileno()

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class Client(mqtt.Client):
    """`paho.mqtt.client.Client` with buffered reads and `ack_many`; see the module docstring."""

    def _create_socket(self):
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(_MAX_PACKETS_PER_TURN):
            sock = self._sock
            # _create_socket wraps every socket, so a connected one is a BufferedSocket
            if rc != mqtt.MQTT_ERR_SUCCESS or not isinstance(sock, BufferedSocket) or not sock.pending():
                break
            rc = super().loop_read(max_packets)
        return rc

    def ack_many(self, mids: list[int]) -> None:
        """Acknowledge many QoS-1 messages (``manual_ack``) with one write."""
        if mids:
            packet = b"".join([_PUBACK_PACKET.pack(_PUBACK, 2, mid) for mid in mids])
            self._packet_queue(_PUBACK, packet, 0, 0)
