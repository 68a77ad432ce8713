"""Sparkplug B (Eclipse Sparkplug 3.0): edge nodes and their devices publishing protobuf payloads on
``spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]``.

What a host application must do with them, as the specification says, and how it lands here:

* **NBIRTH / DBIRTH** declare every metric with its name, datatype and optional alias, and carry its
  current value. The definitions are kept per edge node and per device; the values are stored.
* **NDATA / DDATA** carry metrics by alias (or name). Numeric and boolean metrics become readings:
  tags ``site`` = group id, ``asset`` = device id (the edge node id for node metrics), ``sensor`` =
  metric name, at the metric's timestamp (else the payload's, else the receive time; milliseconds).
  Text, bytes, data sets, templates and date-times are not stored; nor are ``bdSeq`` and the
  ``Node Control/…`` and ``Device Control/…`` metrics.
* **NDEATH / DDEATH**: the node (with all its devices) or the device went offline. Stored as
  data-quality records, measurement ``sparkplug``, field ``online`` = 0 (1 at each birth), tags
  ``site`` and ``asset``, so a dashboard or a no-data check sees the outage as such, not as silence.
  An NDEATH whose ``bdSeq`` is not the one of the node's last NBIRTH is a stale will from an older
  session (the broker sends it late) and changes nothing.
* **seq**: every message of an edge node but NDEATH carries the next number of 0–255. A jump is a
  lost message: recorded (field ``seq_gap`` = how many are missing) and a **rebirth** is requested.
* **Rebirth**: data from a node or device without a birth since we started (or with an alias we
  were never told) cannot be read; it is dead-lettered with the reason and an NCMD with
  ``Node Control/Rebirth = true`` is published to the node (at most once per ``rebirth_every_s``).

STATE, NCMD and DCMD messages are not telemetry and are passed over. The payload is parsed with
the protobuf runtime and ``sparkplug_b.proto`` of this folder (field numbers from the specification).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from google.protobuf.message import DecodeError

from faultline.ingest.codecs.sparkplug_b import sparkplug_b_pb2 as pb
from faultline.ingest.errors import PayloadError, shown

log = logging.getLogger("faultline.sparkplug")

NAMESPACE = "spBv1.0"
STATUS_MEASUREMENT = "sparkplug"
BOOLEAN = 11
SIGNED_BITS = {1: 8, 2: 16, 3: 32, 4: 64}  # Int8, Int16, Int32, Int64
NUMERIC = set(range(1, 12))  # Int8 … UInt64, Float, Double, Boolean
_NOT_READINGS = ("Node Control/", "Device Control/")


@dataclass
class _Edge:
    """What we know of one edge node since its last NBIRTH."""

    bdseq: int | None
    seq: int | None
    metrics: dict[int | str, tuple[str, int]]  # alias or name -> (name, datatype)
    devices: dict[str, dict[int | str, tuple[str, int]]] = field(default_factory=dict)


def rebirth_request(now_ms: int) -> bytes:
    """The NCMD payload asking an edge node to publish its births again."""
    payload = pb.Payload(timestamp=now_ms)
    payload.metrics.add(name="Node Control/Rebirth", timestamp=now_ms, datatype=BOOLEAN, boolean_value=True)
    return payload.SerializeToString()


class SparkplugB:
    """The Sparkplug B codec: one instance keeps the births of every edge node it has seen.

    Parameters
    ----------
    publish : callable, optional
        ``(topic, payload) -> None`` that sends an MQTT message (the rebirth request); without it
        the need for a rebirth is only logged. The wiring sets it once the broker connection exists.
    rebirth_every_s : float
        Least time between two rebirth requests to the same edge node.
    """

    def __init__(
        self,
        publish: Callable[[str, bytes], None] | None = None,
        rebirth_every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.publish = publish
        self.rebirth_every_s = rebirth_every_s
        self._clock = clock
        self._edges: dict[tuple[str, str], _Edge] = {}
        self._asked: dict[tuple[str, str], float] = {}

    @classmethod
    def from_options(cls, options: dict[str, Any], template_names: tuple[str, ...]) -> "SparkplugB":
        unknown = sorted(set(options) - {"rebirth_every_s"})
        if unknown:
            raise ValueError(f"unknown option {unknown[0]!r} (known: rebirth_every_s)")
        every = options.get("rebirth_every_s", 10.0)
        if not isinstance(every, (int, float)) or every < 0:
            raise ValueError(f"rebirth_every_s is {every!r}, expected a number of seconds >= 0")
        return cls(rebirth_every_s=float(every))

    # -- one message --------------------------------------------------------------------------------

    def decode(self, topic: str, payload: bytes, out) -> None:
        parts = topic.split("/")
        if parts[0] != NAMESPACE or len(parts) < 3:
            raise PayloadError(f"topic {shown(topic)} is not spBv1.0/<group>/<type>/<edge node>[/<device>]")
        if parts[1] == "STATE" or parts[2] in ("NCMD", "DCMD"):
            return  # a host's state or a command to a node: not telemetry
        if len(parts) not in (4, 5):
            raise PayloadError(f"topic {shown(topic)} is not spBv1.0/<group>/<type>/<edge node>[/<device>]")
        group, kind, node = parts[1], parts[2], parts[3]
        device = parts[4] if len(parts) == 5 else None
        try:
            message = pb.Payload.FromString(payload)
        except DecodeError as exc:
            raise PayloadError(f"not a Sparkplug B payload: {exc}") from None
        handler: Callable[..., None] | None = {
            "NBIRTH": self._nbirth,
            "DBIRTH": self._dbirth,
            "NDATA": self._data,
            "DDATA": self._data,
            "NDEATH": self._ndeath,
            "DDEATH": self._ddeath,
        }.get(kind)
        if handler is None:
            raise PayloadError(f"unknown Sparkplug message type {shown(kind)} in {shown(topic)}")
        if (kind[0] == "D") != (device is not None):
            raise PayloadError(
                f"{kind} {'needs' if kind[0] == 'D' else 'has no'} a device id in the topic {shown(topic)}"
            )
        handler(group, node, device, message, out)

    def _nbirth(self, group: str, node: str, device: str | None, message, out) -> None:
        bdseq = next((_integer(m) for m in message.metrics if m.name == "bdSeq"), None)
        edge = self._edges[(group, node)] = _Edge(
            bdseq, message.seq if message.HasField("seq") else None, _definitions(message)
        )
        self._asked.pop((group, node), None)
        log.info("Sparkplug: NBIRTH of %s/%s (bdSeq %s, %d metrics)", group, node, bdseq, len(message.metrics))
        self._status(out, group, node, message, 1.0)
        self._readings(out, group, node, message, edge.metrics)

    def _dbirth(self, group: str, node: str, device: str, message, out) -> None:
        edge = self._born(group, node, "DBIRTH", out)
        self._check_seq(edge, group, node, message, out)
        edge.devices[device] = _definitions(message)
        self._status(out, group, device, message, 1.0)
        self._readings(out, group, device, message, edge.devices[device])

    def _data(self, group: str, node: str, device: str | None, message, out) -> None:
        kind = "DDATA" if device else "NDATA"
        edge = self._born(group, node, kind, out)
        self._check_seq(edge, group, node, message, out)
        definitions: dict[int | str, tuple[str, int]] | None
        if device is None:
            definitions = edge.metrics
        else:
            definitions = edge.devices.get(device)
            if definitions is None:
                self._rebirth(group, node, f"DDATA of device {device} without its DBIRTH")
                raise PayloadError(f"DDATA of {group}/{node}/{device} before its DBIRTH; a rebirth was requested")
        self._readings(out, group, device or node, message, definitions, node=(group, node))

    def _ndeath(self, group: str, node: str, device: str | None, message, out) -> None:
        edge = self._edges.get((group, node))
        bdseq = next((_integer(m) for m in message.metrics if m.name == "bdSeq"), None)
        if edge is not None and edge.bdseq is not None and bdseq is not None and bdseq != edge.bdseq:
            log.info(
                "Sparkplug: NDEATH of %s/%s with bdSeq %s is from an older session (now %s); ignored",
                group,
                node,
                bdseq,
                edge.bdseq,
            )
            return
        log.warning("Sparkplug: NDEATH of %s/%s: the edge node and its devices are offline", group, node)
        self._status(out, group, node, message, 0.0)
        for name in edge.devices if edge else {}:
            self._status(out, group, name, message, 0.0)
        self._edges.pop((group, node), None)

    def _ddeath(self, group: str, node: str, device: str, message, out) -> None:
        edge = self._born(group, node, "DDEATH", out)
        self._check_seq(edge, group, node, message, out)
        edge.devices.pop(device, None)
        log.warning("Sparkplug: DDEATH of %s/%s/%s: the device is offline", group, node, device)
        self._status(out, group, device, message, 0.0)

    # -- state ----------------------------------------------------------------------------------------

    def _born(self, group: str, node: str, kind: str, out) -> _Edge:
        edge = self._edges.get((group, node))
        if edge is None:
            self._rebirth(group, node, f"{kind} without an NBIRTH since Faultline started")
            raise PayloadError(
                f"{kind} of {group}/{node} before its NBIRTH: its metrics cannot be read; a rebirth was requested"
            )
        return edge

    def _check_seq(self, edge: _Edge, group: str, node: str, message, out) -> None:
        if not message.HasField("seq"):
            return
        seq = message.seq
        if edge.seq is not None:
            expected = (edge.seq + 1) % 256
            if seq != expected:
                missing = (seq - expected) % 256
                log.warning(
                    "Sparkplug: %s/%s seq %d where %d was next: %d message(s) lost", group, node, seq, expected, missing
                )
                out.reading(
                    {"site": group, "asset": node},
                    out.received,
                    float(missing),
                    measurement=STATUS_MEASUREMENT,
                    field="seq_gap",
                )
                self._rebirth(group, node, f"seq {seq} where {expected} was next")
        edge.seq = seq

    def _rebirth(self, group: str, node: str, why: str) -> None:
        now = self._clock()
        last = self._asked.get((group, node))
        if last is not None and now - last < self.rebirth_every_s:
            return
        self._asked[(group, node)] = now
        topic = f"{NAMESPACE}/{group}/NCMD/{node}"
        if self.publish is None:
            log.warning(
                "Sparkplug: %s/%s needs a rebirth (%s), but no broker connection can ask for it", group, node, why
            )
            return
        log.warning("Sparkplug: %s/%s: %s; requesting a rebirth on %s", group, node, why, topic)
        self.publish(topic, rebirth_request(int(time.time() * 1000)))

    # -- readings -------------------------------------------------------------------------------------

    def _status(self, out, group: str, asset: str, message, online: float) -> None:
        ts = message.timestamp * 1_000_000 if message.HasField("timestamp") else out.received
        try:
            ts = out.window(ts, "timestamp")
        except PayloadError:
            ts = out.received  # the event happened now, whatever the node's clock says
        out.reading(
            out.tags({"site": group, "asset": asset}, "topic"),
            ts,
            online,
            measurement=STATUS_MEASUREMENT,
            field="online",
        )

    def _readings(self, out, group: str, asset: str, message, definitions, node: tuple[str, str] | None = None) -> None:
        default_ms = message.timestamp if message.HasField("timestamp") else None
        for n, metric in enumerate(message.metrics):
            where = f"metrics[{n}]"
            try:
                key = metric.name if metric.name else (metric.alias if metric.HasField("alias") else None)
                known = definitions.get(key) if key is not None else None
                if known is None:
                    if node is not None:
                        self._rebirth(*node, f"{where} has alias {key!r}, which no birth defined")
                    raise PayloadError(
                        f"{where}: alias {key!r} is not defined by the birth certificate"
                        + ("; a rebirth was requested" if node is not None else "")
                    )
                name, datatype = known
                if metric.HasField("datatype"):
                    datatype = metric.datatype
                if (
                    name == "bdSeq"
                    or name.startswith(_NOT_READINGS)
                    or datatype not in NUMERIC
                    or metric.is_null
                    or metric.WhichOneof("value") is None
                ):
                    continue
                value = _number(metric, datatype)
                ms = metric.timestamp if metric.HasField("timestamp") else default_ms
                ts = out.window(ms * 1_000_000, f"{where}.timestamp") if ms is not None else out.received
                tags = out.tags({"site": group, "asset": asset, "sensor": name}, where)
            except PayloadError as exc:
                out.reject(
                    {
                        "topic_asset": asset,
                        "metric": metric.name or None,
                        "alias": metric.alias if metric.HasField("alias") else None,
                    },
                    exc.reason,
                )
                continue
            out.reading(tags, ts, value)


def _definitions(message) -> dict[int | str, tuple[str, int]]:
    """Name and datatype of each metric of a birth, by alias and by name."""
    found: dict[int | str, tuple[str, int]] = {}
    for metric in message.metrics:
        if not metric.name:
            continue
        entry = (metric.name, metric.datatype)
        found[metric.name] = entry
        if metric.HasField("alias"):
            found[metric.alias] = entry
    return found


def _integer(metric) -> int | None:
    which = metric.WhichOneof("value")
    return getattr(metric, which) if which in ("int_value", "long_value") else None


def _number(metric, datatype: int) -> float:
    """The metric's value as a float; signed integers are two's complement in the unsigned fields."""
    which = metric.WhichOneof("value")
    raw = getattr(metric, which)
    if which == "boolean_value":
        return 1.0 if raw else 0.0
    if which in ("int_value", "long_value"):
        bits = SIGNED_BITS.get(datatype)
        if bits is not None:
            width = 64 if which == "long_value" else (32 if raw >= 1 << bits else bits)
            if raw >= 1 << (width - 1):
                raw -= 1 << width
        return float(raw)
    if which in ("float_value", "double_value"):
        if raw - raw != 0.0:
            raise PayloadError(f"metric {metric.name or metric.alias} is {raw!r}, expected a finite number")
        return float(raw)
    raise PayloadError(f"metric {metric.name or metric.alias} holds {which}, not a number")


__all__ = ["NAMESPACE", "STATUS_MEASUREMENT", "SparkplugB", "rebirth_request"]
