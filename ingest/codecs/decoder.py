"""The decoder: MQTT messages (topic, payload, receive time) become columnar `Readings`.

It routes each message to its codec — the first of the configured ``(topic filter, codec)`` routes
whose filter matches the topic (Sparkplug B, the ThingsBoard gateway format, ...), else Faultline's
own formats on the reading and gateway topics of the template: JSON of one reading
(`ingest.codecs.flat_json`), a batch (`ingest.codecs.batch`), a waveform block
(`ingest.codecs.waveform`) or a gateway message (`ingest.codecs.gateway_json`), told apart by their
keys after one parse, and binary waveform blocks (`ingest.codecs.binary_waveform`), told by their
magic bytes. Anything that cannot become readings is returned as `Rejected` with a reason naming the
bad key or value; the other messages of the same call still decode. A bad reading inside a batch or
a gateway message is rejected alone and the message's good readings are kept.

Speed: the one-reading path (an integer millisecond timestamp on a topic seen earlier in the call)
is inlined here and does no numpy work per message. Values and timestamps are appended to Python
lists and turned into arrays once per `Decoder.decode_many` call; series keys are cached per topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Protocol, Sequence

import numpy as np
import orjson

from faultline.ingest.codecs import batch, binary_waveform, flat_json, gateway_json, waveform
from faultline.ingest.codecs.timestamps import MS, MS_RANGE, hours, iso, timestamp_ns
from faultline.ingest.codecs.values import json_type
from faultline.ingest.errors import PayloadError, shown
from faultline.ingest.readings import Readings, SeriesKey
from faultline.ingest.topics import TopicTemplate, check_tag_value

#: The features of a waveform block stored by default (measurement ``waveform``, one field each): four
#: time-domain features and the bearing-defect envelope ratios at BPFO, BPFI, BSF and FTF (the
#: latter only where the injected function knows the asset's bearing and running speed).
WAVEFORM_FIELDS = (
    "rms",
    "peak",
    "crest_factor",
    "kurtosis",
    "bearing_defect",
    "bearing_mode",
    "bpfo",
    "bpfi",
    "bsf",
    "ftf",
)

#: Tag added to points whose payload had no timestamp, so the receive time was used.
RECEIVE_TIME_TAG = ("ts_source", "receive")

WaveformFeatures = Callable[[np.ndarray, float, "dict[str, str]"], "dict[str, np.ndarray]"]
"""``(blocks (n_blocks, n_samples) float64, rate_hz, tags) -> {feature name: (n_blocks,) float64}``.

The blocks of one call share one series (``tags``: the topic's, e.g. ``site``, ``asset``,
``sensor``) and one sampling rate, so features that depend on the machine (bearing-defect
frequencies need its running speed and bearing) can be computed by a function that knows it."""

_KEY_CACHE_SIZE = 100_000
_KEPT_OF_OVERSIZE = 4096  # bytes of a payload over max_payload_bytes kept in its dead letter


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """What the decoder accepts; anything beyond is rejected with a reason.

    Attributes
    ----------
    max_payload_bytes : int
        Larger payloads are rejected before parsing (default 1 MiB).
    earliest_ns : int
        Timestamps before this are rejected (default 2000-01-01T00:00:00Z).
    max_future_ns : int
        Timestamps more than this ahead of the receive time are rejected (default one day).
    max_batch_len : int
        Longest ``ts``/``value`` batch and longest gateway ``readings`` list.
    max_waveform_len : int
        Most samples in one waveform block.
    max_tag_chars : int
        Longest tag value (a topic segment or a gateway reading's ``asset``, ``sensor``, ...): a
        series key is stored with every point, and InfluxDB refuses keys past 64 KiB.
    """

    max_payload_bytes: int = 1 << 20
    earliest_ns: int = 946_684_800 * 1_000_000_000
    max_future_ns: int = 86_400 * 1_000_000_000
    max_batch_len: int = 100_000
    max_waveform_len: int = 65_536
    max_tag_chars: int = 256

    def __post_init__(self) -> None:
        for name in ("max_payload_bytes", "max_future_ns", "max_batch_len", "max_waveform_len", "max_tag_chars"):
            if getattr(self, name) <= 0:
                raise ValueError(f"DecodeLimits.{name} must be positive, got {getattr(self, name)!r}")


class Rejected(NamedTuple):
    """What did not decode: the message's position in the call, topic, payload and why.

    One bad reading of a batch or gateway message is rejected on its own: ``payload`` is then that
    reading as JSON, and several `Rejected` may share the message's ``index``.
    """

    # a field named like tuple.index, which it hides; the name is the record's public one
    index: int  # type: ignore[assignment]
    topic: str
    payload: bytes
    reason: str


class _Rows:
    """Rows collected during one `Decoder.decode_many` call, turned into arrays at the end."""

    __slots__ = ("series", "positions", "topic_pos", "topic_recv_pos", "idx", "ts", "val", "chunks")

    def __init__(self) -> None:
        self.series: list[SeriesKey] = []
        self.positions: dict[SeriesKey, int] = {}
        # shortcuts for the one-reading path: topic -> position of its series
        self.topic_pos: dict[str, int] = {}
        self.topic_recv_pos: dict[str, int] = {}
        self.idx: list[int] = []
        self.ts: list[int] = []
        self.val: list[float] = []
        self.chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def position(self, key: SeriesKey) -> int:
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = len(self.series)
            self.series.append(key)
        return pos

    def add_block(self, key: SeriesKey, ts: np.ndarray, value: np.ndarray) -> None:
        self.add_rows(np.full(len(ts), self.position(key), dtype=np.int32), ts, value)

    def add_rows(self, idx: np.ndarray, ts: np.ndarray, value: np.ndarray) -> None:
        """Rows of several series: ``idx`` holds their positions (`position`)."""
        self.chunks.append((idx, ts, value))

    def readings(self) -> Readings:
        if not self.idx and not self.chunks:
            return Readings.empty()
        idx = [np.array(self.idx, dtype=np.int32)] + [c[0] for c in self.chunks]
        ts = [np.array(self.ts, dtype=np.int64)] + [c[1] for c in self.chunks]
        val = [np.array(self.val, dtype=np.float64)] + [c[2] for c in self.chunks]
        return Readings(tuple(self.series), np.concatenate(idx), np.concatenate(ts), np.concatenate(val))


class _Partial(NamedTuple):
    """Where the bad readings of a batch or gateway message go: rejected one by one, the rest kept."""

    message: int
    topic: str
    rejected: list[Rejected]
    gateway: bool = False

    def reject(self, reading: object, reason: str) -> None:
        """Reject one reading; its payload is the reading alone, as a message of its own on the same topic
        (``{"readings": [reading]}`` for a gateway), so a fixed dead letter can be replayed as it is."""
        try:
            payload = orjson.dumps({"readings": [reading]} if self.gateway else reading)
        except TypeError:  # an integer orjson cannot write back: keep its text
            payload = repr(reading).encode()
        self.rejected.append(Rejected(self.message, self.topic, payload, reason))


class Block(NamedTuple):
    """A waveform block waiting for its features (computed once per call, per series and rate)."""

    message: int
    tags: dict[str, str]
    t0: int
    rate_hz: float
    values: np.ndarray


class Output:
    """Where a routed codec puts one message's readings: checked tags, timestamps in the window, and
    bad readings rejected one by one (the message's good ones are kept)."""

    __slots__ = ("decoder", "rows", "blocks", "partial", "received")

    def __init__(self, decoder: "Decoder", rows: "_Rows", blocks: list[Block], partial: "_Partial", received: int):
        self.decoder, self.rows, self.blocks, self.partial, self.received = decoder, rows, blocks, partial, received

    def tags(self, values: dict[str, str], where: str) -> dict[str, str]:
        """``values`` with each checked as a tag value (not empty, no line break, not too long)."""
        limit = self.decoder.limits.max_tag_chars
        for name, text in values.items():
            if type(text) is not str:
                raise PayloadError(f"{where}.{name} is {shown(text)}, expected text")
            check_tag_value(f"{where}.{name}", text)
            if len(text) > limit:
                raise PayloadError(f"{where}.{name} is {len(text)} characters, over the limit of {limit}")
        return values

    def timestamp(self, raw: object, what: str) -> int:
        """Epoch ns of a device timestamp (`timestamp_ns`), checked against the window."""
        return self.decoder.timestamp(raw, self.received, what)

    def window(self, ns: int, what: str) -> int:
        """``ns`` when it lies in the window; `PayloadError` naming ``what`` otherwise."""
        limits = self.decoder.limits
        if not limits.earliest_ns <= ns <= self.received + limits.max_future_ns:
            self.decoder.check_window(ns, self.received, what, ns)
        return ns

    def reading(
        self,
        tags: dict[str, str],
        ts_ns: int,
        value: float,
        measurement: str | None = None,
        field: str = "value",
        receive: bool = False,
    ) -> None:
        """One reading; ``receive``: ``ts_ns`` is the receive time (tag ``ts_source=receive``)."""
        rows = self.rows
        rows.idx.append(rows.position(self.decoder.key(tags, receive=receive, measurement=measurement, field=field)))
        rows.ts.append(ts_ns)
        rows.val.append(value)

    def block(self, tags: dict[str, str], t0: int, rate_hz: float, values: np.ndarray) -> None:
        """A waveform block: stored as its features (and its samples with ``keep_raw_waveform``)."""
        self.blocks.append(Block(self.partial.message, tags, t0, rate_hz, values))

    def reject(self, reading: object, reason: str) -> None:
        self.partial.reject(reading, reason)


class Codec(Protocol):
    """A payload format selected by topic filter (``mqtt.codecs``): decodes one message into ``out``.

    Raise `PayloadError` to reject the whole message; call ``out.reject`` for one bad reading of it."""

    def decode(self, topic: str, payload: bytes, out: Output) -> None: ...


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching: ``+`` one level, ``#`` the rest; ``$`` topics only by a filter naming them.

    >>> topic_matches("spBv1.0/#", "spBv1.0/plant/NDATA/gw1"), topic_matches("a/+/c", "a/b/c/d")
    (True, False)
    >>> topic_matches("#", "$SYS/broker/uptime"), topic_matches("a/#", "a")
    (False, True)
    """
    if topic.startswith("$") and not topic_filter.startswith("$"):
        return False
    parts, levels = topic_filter.split("/"), topic.split("/")
    for n, part in enumerate(parts):
        if part == "#":
            return True
        if n >= len(levels) or (part != "+" and part != levels[n]):
            return False
    return len(parts) == len(levels)


class Decoder:
    """Turns MQTT messages into `Readings`.

    Meant for one thread (the one that takes messages off the broker); it caches parsed topics and
    series keys per topic, bounded, so a stream of ever-new topics cannot grow memory without limit.

    Parameters
    ----------
    template : TopicTemplate or str
        Topic template of reading topics, e.g. ``"faultline/{site}/{asset}/{sensor}"``; its
        placeholders become tags.
    limits : DecodeLimits, optional
        Size, length and timestamp-window limits (default ``DecodeLimits()``).
    measurement : str
        Measurement of readings (default ``telemetry``; field ``value``).
    waveform_features : callable, optional
        `WaveformFeatures`: ``(blocks (n_blocks, n_samples) float64, rate_hz, tags) -> {name:
        (n_blocks,) float64}``; called once per call, series, rate and block length. Features that come out non-finite (e.g. kurtosis of a constant block)
        are left out for that block. Without it waveform blocks are stored raw.
    keep_raw_waveform : bool
        Also store every sample of waveform blocks (measurement ``waveform_raw``).
    waveform_fields : tuple of str, optional
        Which of the features to store (default `WAVEFORM_FIELDS`: ``rms``, ``peak``,
        ``crest_factor``, ``kurtosis``, the bearing diagnosis ``bearing_defect`` and ``bearing_mode``, and
        the bearing-defect ratios ``bpfo``, ``bpfi``, ``bsf``, ``ftf``: the waveform schema); ``None``
        stores every feature the function returns.
    gateway_template : TopicTemplate or str, optional
        Topic template of gateway messages; default `TopicTemplate.gateway` of ``template``.
    codecs : sequence of (topic filter, Codec)
        Routed codecs, the first matching filter wins; other topics are Faultline's own formats.
    """

    def __init__(
        self,
        template: TopicTemplate | str,
        limits: DecodeLimits | None = None,
        measurement: str = "telemetry",
        waveform_features: WaveformFeatures | None = None,
        keep_raw_waveform: bool = False,
        gateway_template: TopicTemplate | str | None = None,
        waveform_fields: tuple[str, ...] | None = WAVEFORM_FIELDS,
        codecs: Sequence[tuple[str, Codec]] = (),
    ):
        self.template = template if isinstance(template, TopicTemplate) else TopicTemplate(template)
        if gateway_template is None:
            gateway_template = self.template.gateway()
        self.gateway_template = (
            gateway_template if isinstance(gateway_template, TopicTemplate) else TopicTemplate(gateway_template)
        )
        self.limits = limits or DecodeLimits()
        self.measurement = measurement
        self.waveform_features = waveform_features
        self.keep_raw_waveform = keep_raw_waveform or waveform_features is None
        self.waveform_fields = None if waveform_fields is None else frozenset(waveform_fields)
        self.codecs = list(codecs)
        self._keys: dict[object, SeriesKey] = {}
        self._topics: dict[str, tuple[bool, dict[str, str]] | str] = {}
        self._codec_of: dict[str, Codec | None] = {}

    # -- the hot loop ---------------------------------------------------------------------------

    def decode_many(self, messages: Sequence[tuple[str, bytes, int]]) -> tuple[Readings, list[Rejected]]:
        """Decode messages; bad ones are returned, not raised.

        Parameters
        ----------
        messages : sequence of (topic, payload, receive_time_ns)
            ``payload`` is the raw bytes; ``receive_time_ns`` is epoch nanoseconds (int), used for
            readings without a timestamp and for the future limit.

        Returns
        -------
        readings : Readings
            Every reading of every good message.
        rejected : list of Rejected
            One entry per bad message, with ``index`` its position in ``messages``.
        """
        rows = _Rows()
        rejected: list[Rejected] = []
        blocks: list[Block] = []
        max_bytes = self.limits.max_payload_bytes
        earliest = self.limits.earliest_ns
        future = self.limits.max_future_ns
        ms_low, ms_high = MS_RANGE
        topic_pos = rows.topic_pos
        idx_append, ts_append, val_append = rows.idx.append, rows.ts.append, rows.val.append
        loads = orjson.loads
        routed = self._codec_for if self.codecs else None
        batches: list[batch.Pending] = []  # decoded together after the loop
        for i, (topic, payload, received) in enumerate(messages):
            try:
                if len(payload) > max_bytes:
                    raise PayloadError(f"payload is {len(payload)} bytes, over the limit of {max_bytes}")
                if routed is not None:
                    codec = routed(topic)
                    if codec is not None:
                        codec.decode(topic, payload, Output(self, rows, blocks, _Partial(i, topic, rejected), received))
                        continue
                try:
                    obj = loads(payload)
                except orjson.JSONDecodeError as exc:
                    if binary_waveform.is_block(payload):
                        binary_waveform.decode(
                            self._reading_tags(topic),
                            payload,
                            Output(self, rows, blocks, _Partial(i, topic, rejected), received),
                        )
                        continue
                    raise PayloadError(f"not JSON: {exc}") from None
                if type(obj) is not dict:
                    raise PayloadError(f"payload is a JSON {json_type(obj)}, expected an object")
                value = obj.get("value")
                vtype = type(value)
                ts = obj.get("ts")
                # The common case, inlined: one reading with an integer ms timestamp on a topic seen
                # earlier in this call (topic_pos holds only such reading topics).
                pos = topic_pos.get(topic)
                if pos is not None and (vtype is float or vtype is int) and type(ts) is int and ms_low <= ts < ms_high:
                    ts_ns = ts * MS
                    if not earliest <= ts_ns <= received + future:
                        self.check_window(ts_ns, received, '"ts"', ts)
                    idx_append(pos)
                    ts_append(ts_ns)
                    val_append(value)  # type: ignore[arg-type]  # an int or a float: vtype was checked above
                    continue
                self._decode_other(topic, obj, received, i, rows, blocks, rejected, batches)
            except PayloadError as exc:
                if len(payload) > max_bytes:  # keep the start for a person to see, not megabytes
                    rejected.append(
                        Rejected(
                            i,
                            topic,
                            bytes(payload[:_KEPT_OF_OVERSIZE]),
                            f"{exc.reason} (the first {_KEPT_OF_OVERSIZE} bytes are kept)",
                        )
                    )
                    continue
                rejected.append(Rejected(i, topic, bytes(payload), exc.reason))
            except Exception as exc:  # noqa: BLE001 - a decoder bug costs this message alone, not the delivery
                rejected.append(
                    Rejected(i, topic, bytes(payload), f"decoder error on this message: {type(exc).__name__}: {exc}")
                )
        if batches:
            for item in batch.decode_together(self, batches, rows):
                self._decode_batch_alone(item, messages, rows, rejected)
        if blocks:
            waveform.add_blocks(self, blocks, messages, rows, rejected)
        if rejected:
            rejected.sort(key=lambda r: r.index)
        return rows.readings(), rejected

    def decode(self, topic: str, payload: bytes, received_ns: int) -> Readings:
        """Decode one message; raises `PayloadError` when it is bad."""
        readings, rejected = self.decode_many([(topic, payload, received_ns)])
        if rejected:
            raise PayloadError(rejected[0].reason)
        return readings

    # -- everything but the inlined path ----------------------------------------------------------

    def _codec_for(self, topic: str) -> Codec | None:
        try:
            return self._codec_of[topic]
        except KeyError:
            codec = next((c for f, c in self.codecs if topic_matches(f, topic)), None)
            if len(self._codec_of) >= _KEY_CACHE_SIZE:
                self._codec_of.clear()
            self._codec_of[topic] = codec
            return codec

    def _decode_batch_alone(
        self, item: batch.Pending, messages: Sequence[tuple[str, bytes, int]], rows: "_Rows", rejected: list[Rejected]
    ) -> None:
        """One batch that `batch.decode_together` left: its bad readings, or the whole of it, are rejected."""
        topic, payload, _ = messages[item.message]
        try:
            batch.decode(self, item.tags, item.obj, item.received, rows, _Partial(item.message, topic, rejected))
        except PayloadError as exc:
            rejected.append(Rejected(item.message, topic, bytes(payload), exc.reason))
        except Exception as exc:  # noqa: BLE001 - a decoder bug costs this message alone, not the delivery
            reason = f"decoder error on this message: {type(exc).__name__}: {exc}"
            rejected.append(Rejected(item.message, topic, bytes(payload), reason))

    def _decode_other(
        self,
        topic: str,
        obj: dict,
        received: int,
        i: int,
        rows: "_Rows",
        blocks: list[Block],
        rejected: list[Rejected],
        batches: list[batch.Pending],
    ) -> None:
        if "readings" in obj:
            return gateway_json.decode(self, topic, obj, received, rows, _Partial(i, topic, rejected, gateway=True))
        tags = self._reading_tags(topic)
        if "values" in obj:
            blocks.append(waveform.block(self, i, tags, obj, received))
            return
        if "value" not in obj:
            raise PayloadError(f'payload has none of "value", "values" or "readings"; keys: {shown(sorted(obj))}')
        if type(obj["value"]) is list:
            batches.append(batch.Pending(i, tags, obj, received))
            return
        flat_json.decode(self, topic, tags, obj, received, rows)

    def route(self, topic: str) -> tuple[bool, dict[str, str]]:
        """(is a gateway topic, its tags); raises `PayloadError` when the topic fits neither template.

        Gateway topics are checked first: ``faultline/s/_gateway/g`` also fits the reading template
        (as asset ``_gateway``), and ``_gateway`` is reserved for gateways.
        """
        route = self._topics.get(topic)
        if route is None:
            try:
                route = (True, self.gateway_template.parse(topic))
            except PayloadError:
                try:
                    route = (False, self.template.parse(topic))
                except PayloadError as exc:
                    route = exc.reason
            if not isinstance(route, str):
                for name, text in route[1].items():
                    if len(text) > self.limits.max_tag_chars:
                        route = (
                            f"topic segment {{{name}}} is {len(text)} characters, over the limit of "
                            f"{self.limits.max_tag_chars}"
                        )
                        break
            if len(self._topics) >= _KEY_CACHE_SIZE:
                self._topics.clear()
            self._topics[topic] = route
        if isinstance(route, str):
            raise PayloadError(route)
        return route

    def _reading_tags(self, topic: str) -> dict[str, str]:
        is_gateway, tags = self.route(topic)
        if is_gateway:
            raise PayloadError(f'topic {shown(topic)} is a gateway topic: its payload must be {{"readings": [...]}}')
        return tags

    def key(
        self, tags: dict[str, str], receive: bool = False, measurement: str | None = None, field: str = "value"
    ) -> SeriesKey:
        """The series key of ``tags`` (cached), with the receive-time tag when ``receive``."""
        measurement = measurement or self.measurement
        cache_key = (measurement, field, receive, *tags.items())
        key = self._keys.get(cache_key)
        if key is None:
            full = dict(tags)
            if receive:
                full[RECEIVE_TIME_TAG[0]] = RECEIVE_TIME_TAG[1]
            key = SeriesKey.of(measurement, full, field)
            if len(self._keys) >= _KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    # -- timestamps ---------------------------------------------------------------------------------

    def timestamp(self, raw: object, received: int, what: str) -> int:
        """Epoch ns of ``raw`` (`timestamp_ns`: s, ms, µs or ns by magnitude, or ISO 8601), in the window."""
        ns = timestamp_ns(raw, what)
        if not self.limits.earliest_ns <= ns <= received + self.limits.max_future_ns:
            self.check_window(ns, received, what, raw)
        return ns

    def check_window(self, ns: int, received: int, what: str, raw: object) -> None:
        """Raise the reason a timestamp is outside the window (called only when it is)."""
        if ns < self.limits.earliest_ns:
            raise PayloadError(f"{what} {shown(raw)} is {iso(ns)}, before {iso(self.limits.earliest_ns)}")
        if ns > received + self.limits.max_future_ns:
            raise PayloadError(
                f"{what} {shown(raw)} is {iso(ns)}, {hours(ns - received)} ahead of the receive "
                f"time (at most {self.limits.max_future_ns / 3.6e12:g} h allowed)"
            )


__all__ = [
    "Block",
    "Codec",
    "DecodeLimits",
    "Decoder",
    "Output",
    "RECEIVE_TIME_TAG",
    "Rejected",
    "WAVEFORM_FIELDS",
    "WaveformFeatures",
    "topic_matches",
]
