"""Sparkplug B payloads written byte by byte from the specification's field numbers (Eclipse
Sparkplug 3.0.0, "Sparkplug B Payload Definition"; the same numbers as Eclipse Tahu's
sparkplug_b.proto): an encoder independent of Faultline's .proto and of the protobuf runtime, so a
wrong field number on our side cannot be hidden by the same mistake in the publisher.

Protobuf wire format: a field is ``varint(number << 3 | wire type)`` followed by a varint (type 0),
8 bytes little-endian (1), a varint length and bytes (2), or 4 bytes little-endian (5).
"""

from __future__ import annotations

import struct

# Sparkplug B datatypes (specification, "Datatypes")
INT8, INT16, INT32, INT64, UINT32, FLOAT, DOUBLE, BOOLEAN, STRING = 1, 2, 3, 4, 7, 9, 10, 11, 12


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative integers go on the wire as their 64-bit two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, wire_type: int, body: bytes) -> bytes:
    return varint(number << 3 | wire_type) + body


def length_delimited(number: int, data: bytes) -> bytes:
    return field(number, 2, varint(len(data)) + data)


def metric(
    name: str | None = None,
    alias: int | None = None,
    datatype: int | None = None,
    value=None,
    timestamp: int | None = None,
) -> bytes:
    """A Payload.Metric: name 1, alias 2, timestamp 3, datatype 4, then the value by datatype —
    int_value 10 (uint32: Int8/16/32, UInt8/16/32), long_value 11 (uint64: Int64, UInt64),
    float_value 12, double_value 13, boolean_value 14, string_value 15."""
    out = b""
    if name is not None:
        out += length_delimited(1, name.encode())
    if alias is not None:
        out += field(2, 0, varint(alias))
    if timestamp is not None:
        out += field(3, 0, varint(timestamp))
    if datatype is not None:
        out += field(4, 0, varint(datatype))
    if value is not None:
        if datatype in (INT8, INT16, INT32, UINT32):
            out += field(10, 0, varint(value & 0xFFFFFFFF))
        elif datatype == INT64:
            out += field(11, 0, varint(value))
        elif datatype == FLOAT:
            out += field(12, 5, struct.pack("<f", value))
        elif datatype == DOUBLE:
            out += field(13, 1, struct.pack("<d", value))
        elif datatype == BOOLEAN:
            out += field(14, 0, varint(int(value)))
        elif datatype == STRING:
            out += length_delimited(15, value.encode())
        else:
            raise ValueError(f"datatype {datatype} not written by this test encoder")
    return out


def payload(metrics: list[bytes], seq: int | None = None, timestamp: int | None = None) -> bytes:
    """A Payload: timestamp 1, metrics 2 (repeated), seq 3."""
    out = field(1, 0, varint(timestamp)) if timestamp is not None else b""
    for m in metrics:
        out += length_delimited(2, m)
    if seq is not None:
        out += field(3, 0, varint(seq))
    return out


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def fields(data: bytes) -> list[tuple[int, object]]:
    """Decode one message level: ``[(field number, int or bytes)]`` (for checking what we publish)."""
    out, pos = [], 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = read_varint(data, pos)
        elif wire_type == 2:
            size, pos = read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire_type == 1:
            value, pos = data[pos : pos + 8], pos + 8
        else:
            value, pos = data[pos : pos + 4], pos + 4
        out.append((number, value))
    return out
