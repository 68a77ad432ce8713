"""Payload codecs: MQTT messages (topic, JSON payload, receive time) become columnar `Readings`.

Four payload formats are accepted (see ``docs/payloads.md`` for examples):

one reading
    ``{"ts": 1763700000123, "value": 4.2}``. ``ts`` is epoch milliseconds (int or float) or an
    ISO 8601 string with a UTC offset. Without ``ts`` the receive time is used and the point carries
    the extra tag ``ts_source=receive``, so a query can tell device time from broker time.
batch
    ``{"ts": [..], "value": [..]}``: equal-length, non-empty arrays.
waveform block
    ``{"t0": <ts>, "rate_hz": 10000, "values": [..]}``: a regularly sampled block, stored as
    per-block features (measurement ``waveform``, one field per feature, at ``t0``) computed by the
    injected ``waveform_features`` function, and, when ``keep_raw_waveform``, every sample
    (measurement ``waveform_raw``, field ``value``, at ``t0 + i / rate_hz``).
gateway message
    ``{"readings": [{"site": .., "asset": .., "sensor": .., "ts": .., "value": ..}, ..]}`` on the
    gateway topic (``faultline/{site}/_gateway/{gateway}``). Each reading names every placeholder
    of the reading template (so its series is the same as had it come on its own topic); those
    the gateway topic has (``site``) default to the topic's. ``ts`` follows the one-reading rule.

Keys other than these are ignored, so gateways may add ``unit`` or ``seq``. Anything that cannot
become readings is returned as `Rejected` with a reason naming the bad key or value; the other
messages of the same call still decode. A bad reading inside a batch or a gateway message is
rejected alone (its payload is that reading as JSON) and the message's good readings are kept; a
message whose shape is wrong (no array, arrays of different lengths) is rejected whole.

Speed: the one-reading path does no numpy work per message. Values and timestamps are appended
to Python lists and turned into arrays once per `Decoder.decode_many` call; series keys are cached
per topic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, NamedTuple, Sequence

import numpy as np
import orjson

from ingest.errors import PayloadError, shown
from ingest.readings import Readings, SeriesKey
from ingest.topics import TopicTemplate, check_tag_value

__all__ = ["DecodeLimits", "Decoder", "PayloadError", "Rejected", "WaveformFeatures",
           "RECEIVE_TIME_TAG", "WAVEFORM_FIELDS", "timestamp_ns"]

#: The features of a waveform block stored by default (measurement ``waveform``, one field each): four
#: time-domain features and the bearing-defect envelope ratios at BPFO, BPFI, BSF and FTF (the
#: latter only where the injected function knows the asset's bearing and running speed).
WAVEFORM_FIELDS = ("rms", "peak", "crest_factor", "kurtosis", "bearing_defect", "bearing_mode",
                   "bpfo", "bpfi", "bsf", "ftf")

#: Tag added to points whose payload had no timestamp, so the receive time was used.
RECEIVE_TIME_TAG = ("ts_source", "receive")

WaveformFeatures = Callable[[np.ndarray, float, "dict[str, str]"], "dict[str, np.ndarray]"]
"""``(blocks (n_blocks, n_samples) float64, rate_hz, tags) -> {feature name: (n_blocks,) float64}``.

The blocks of one call share one series (``tags``: the topic's, e.g. ``site``, ``asset``,
``sensor``) and one sampling rate, so features that depend on the machine (bearing-defect
frequencies need its running speed and bearing) can be computed by a function that knows it."""

_MS = 1_000_000  # nanoseconds per millisecond
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FRACTION = re.compile(r"^(.*\d\d:?\d\d:?\d\d)[.,](\d+)(.*)$")
_NUMBER = (int, float)
_KEY_CACHE_SIZE = 100_000
_KEPT_OF_OVERSIZE = 4096  # bytes of a payload over max_payload_bytes kept in its dead letter
_MAX_RATE_HZ = 1e9  # samples closer than 1 ns would share a timestamp and overwrite each other


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """What the decoder accepts; anything beyond is rejected with a reason.

    Attributes
    ----------
    max_payload_bytes : int
        Larger payloads are rejected before parsing (default 1 MiB).
    earliest_ns : int
        Timestamps before this are rejected (default 2000-01-01T00:00:00Z); this also catches
        epoch seconds sent where milliseconds are expected.
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

    index: int
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
        idx = np.full(len(ts), self.position(key), dtype=np.int32)
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


class _Block(NamedTuple):
    message: int
    tags: dict[str, str]
    t0: int
    rate_hz: float
    values: np.ndarray


class Decoder:
    """Turns MQTT messages into `Readings`.

    Meant for one thread (the one that takes messages off the broker); it caches parsed topics and
    series keys per topic, bounded, so a stream of ever-new topics cannot grow memory without limit.

    Parameters
    ----------
    template : TopicTemplate or str
        Topic template of reading topics, e.g. ``"faultline/{site}/{asset}/{sensor}"``; its
        placeholders become tags.
    limits : DecodeLimits
        Size, length and timestamp-window limits.
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
    """

    def __init__(self, template: TopicTemplate | str, limits: DecodeLimits = DecodeLimits(),
                 measurement: str = "telemetry", waveform_features: WaveformFeatures | None = None,
                 keep_raw_waveform: bool = False, gateway_template: TopicTemplate | str | None = None,
                 waveform_fields: tuple[str, ...] | None = WAVEFORM_FIELDS):
        self.template = template if isinstance(template, TopicTemplate) else TopicTemplate(template)
        if gateway_template is None:
            gateway_template = self.template.gateway()
        self.gateway_template = (gateway_template if isinstance(gateway_template, TopicTemplate)
                                 else TopicTemplate(gateway_template))
        self.limits = limits
        self.measurement = measurement
        self.waveform_features = waveform_features
        self.keep_raw_waveform = keep_raw_waveform or waveform_features is None
        self.waveform_fields = None if waveform_fields is None else frozenset(waveform_fields)
        self._keys: dict[object, SeriesKey] = {}
        self._topics: dict[str, tuple[bool, dict[str, str]] | str] = {}

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
        blocks: list[_Block] = []
        max_bytes = self.limits.max_payload_bytes
        earliest = self.limits.earliest_ns
        future = self.limits.max_future_ns
        topic_pos = rows.topic_pos
        idx_append, ts_append, val_append = rows.idx.append, rows.ts.append, rows.val.append
        loads = orjson.loads
        for i, (topic, payload, received) in enumerate(messages):
            try:
                if len(payload) > max_bytes:
                    raise PayloadError(f"payload is {len(payload)} bytes, over the limit of {max_bytes}")
                try:
                    obj = loads(payload)
                except orjson.JSONDecodeError as exc:
                    raise PayloadError(f"not JSON: {exc}") from None
                if type(obj) is not dict:
                    raise PayloadError(f"payload is a JSON {_json_type(obj)}, expected an object")
                value = obj.get("value")
                vtype = type(value)
                ts = obj.get("ts")
                # The common case, inlined: one reading with an integer ms timestamp on a topic seen
                # earlier in this call (topic_pos holds only such reading topics).
                pos = topic_pos.get(topic)
                if pos is not None and (vtype is float or vtype is int) and type(ts) is int:
                    ts_ns = ts * _MS
                    if not earliest <= ts_ns <= received + future:
                        self._check_window(ts_ns, received, '"ts"', ts)
                    idx_append(pos)
                    ts_append(ts_ns)
                    val_append(value)
                    continue
                self._decode_other(topic, obj, received, i, rows, blocks, rejected)
            except PayloadError as exc:
                if len(payload) > max_bytes:  # keep the start for a person to see, not megabytes
                    rejected.append(Rejected(i, topic, bytes(payload[:_KEPT_OF_OVERSIZE]),
                                             f"{exc.reason} (the first {_KEPT_OF_OVERSIZE} bytes are kept)"))
                    continue
                rejected.append(Rejected(i, topic, bytes(payload), exc.reason))
            except Exception as exc:  # noqa: BLE001 - a decoder bug costs this message alone, not the delivery
                rejected.append(Rejected(i, topic, bytes(payload),
                                         f"decoder error on this message: {type(exc).__name__}: {exc}"))
        if blocks:
            self._add_waveforms(blocks, messages, rows, rejected)
            rejected.sort(key=lambda r: r.index)
        return rows.readings(), rejected

    def decode(self, topic: str, payload: bytes, received_ns: int) -> Readings:
        """Decode one message; raises `PayloadError` when it is bad."""
        readings, rejected = self.decode_many([(topic, payload, received_ns)])
        if rejected:
            raise PayloadError(rejected[0].reason)
        return readings

    # -- everything but the inlined path ----------------------------------------------------------

    def _decode_other(self, topic: str, obj: dict, received: int, i: int, rows: _Rows,
                      blocks: list[_Block], rejected: list[Rejected]) -> None:
        if "readings" in obj:
            return self._gateway(topic, obj, received, rows, _Partial(i, topic, rejected, gateway=True))
        tags = self._reading_tags(topic)
        if "values" in obj:
            blocks.append(self._waveform_block(i, tags, obj, received))
            return
        if "value" not in obj:
            raise PayloadError('payload has none of "value", "values" or "readings"; '
                               f"keys: {shown(sorted(obj))}")
        value = obj["value"]
        if type(value) is list:
            return self._batch(tags, obj, received, rows, _Partial(i, topic, rejected))
        value = _number(value, '"value"')
        raw_ts = obj.get("ts")
        if raw_ts is None:
            if "ts" in obj:
                raise PayloadError('"ts" is null; leave it out to use the receive time')
            key = rows.topic_recv_pos.get(topic)
            if key is None:
                key = rows.topic_recv_pos[topic] = rows.position(self._key(tags, receive=True))
            rows.idx.append(key)
            rows.ts.append(received)
            rows.val.append(value)
            return
        if type(raw_ts) is list:
            raise PayloadError('"ts" is an array but "value" is not; a batch needs both as arrays')
        ts_ns = self._timestamp(raw_ts, received, '"ts"')
        pos = rows.topic_pos.get(topic)
        if pos is None:
            pos = rows.topic_pos[topic] = rows.position(self._key(tags))
        rows.idx.append(pos)
        rows.ts.append(ts_ns)
        rows.val.append(value)

    def _route(self, topic: str) -> tuple[bool, dict[str, str]]:
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
            if type(route) is not str:
                for name, text in route[1].items():
                    if len(text) > self.limits.max_tag_chars:
                        route = f"topic segment {{{name}}} is {len(text)} characters, over the limit of " \
                                f"{self.limits.max_tag_chars}"
                        break
            if len(self._topics) >= _KEY_CACHE_SIZE:
                self._topics.clear()
            self._topics[topic] = route
        if type(route) is str:
            raise PayloadError(route)
        return route

    def _reading_tags(self, topic: str) -> dict[str, str]:
        is_gateway, tags = self._route(topic)
        if is_gateway:
            raise PayloadError(f"topic {shown(topic)} is a gateway topic: its payload must be "
                               '{"readings": [...]}')
        return tags

    def _key(self, tags: dict[str, str], receive: bool = False, measurement: str | None = None,
             field: str = "value") -> SeriesKey:
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

    def _batch(self, tags: dict[str, str], obj: dict, received: int, rows: _Rows, partial: _Partial) -> None:
        values, raw_ts = obj["value"], obj.get("ts")
        if type(raw_ts) is not list:
            raise PayloadError(f'"value" is an array but "ts" is {shown(raw_ts)}; a batch needs "ts" as an '
                               "array of the same length")
        _array(values, '"value"', "readings", self.limits.max_batch_len)
        if len(values) != len(raw_ts):
            raise PayloadError(f'"ts" has {len(raw_ts)} elements but "value" has {len(values)}')
        try:
            value = _numbers(values, '"value"')
            ts = self._timestamps(raw_ts, received, '"ts"')
        except PayloadError:
            # a bad element costs that reading alone: the slow path, taken only when one is bad
            good_ts, good_values = [], []
            for k, (t, v) in enumerate(zip(raw_ts, values)):
                try:
                    number = _number(v, f'"value"[{k}]')
                    good_ts.append(self._timestamp(t, received, f'"ts"[{k}]'))
                    good_values.append(number)
                except PayloadError as exc:
                    partial.reject({"ts": t, "value": v}, exc.reason)
            if not good_ts:
                return
            value, ts = np.array(good_values, dtype=np.float64), np.array(good_ts, dtype=np.int64)
        rows.add_block(self._key(tags), ts, value)

    def _gateway(self, topic: str, obj: dict, received: int, rows: _Rows, partial: _Partial) -> None:
        is_gateway, topic_tags = self._route(topic)
        if not is_gateway:
            raise PayloadError(f'"readings" payloads belong on gateway topics ({self.gateway_template.template}), '
                               f"not on {shown(topic)}")
        readings = _array(obj["readings"], '"readings"', "readings", self.limits.max_batch_len)
        # A gateway reading carries the same tags as a reading on its own topic: each placeholder
        # of the reading template, from the reading or else from the gateway topic (e.g. site).
        names = self.template.names
        idx, ts, val = [], [], []
        for n, reading in enumerate(readings):
            where = f'"readings"[{n}]'
            try:
                if type(reading) is not dict:
                    raise PayloadError(f"{where} is {shown(reading)}, expected an object")
                tags = {}
                for name in names:
                    text = reading.get(name, topic_tags.get(name))
                    if type(text) is not str:
                        missing = name not in reading
                        raise PayloadError(f'{where} {"has no" if missing else "has a non-text"} "{name}"'
                                           + ("" if missing else f": {shown(text)}"))
                    check_tag_value(f'{where}.{name}', text)
                    if len(text) > self.limits.max_tag_chars:
                        raise PayloadError(f"{where}.{name} is {len(text)} characters, over the limit of "
                                           f"{self.limits.max_tag_chars}")
                    tags[name] = text
                value = _number(reading.get("value"), f'{where}.value')
                raw_ts = reading.get("ts")
                if raw_ts is None:
                    if "ts" in reading:
                        raise PayloadError(f"{where}.ts is null; leave it out to use the receive time")
                    key, stamp = self._key(tags, receive=True), received
                else:
                    stamp = self._timestamp(raw_ts, received, f"{where}.ts")
                    key = self._key(tags)
            except PayloadError as exc:
                partial.reject(reading, exc.reason)
                continue
            idx.append(rows.position(key))
            ts.append(stamp)
            val.append(value)
        rows.idx.extend(idx)
        rows.ts.extend(ts)
        rows.val.extend(val)

    def _waveform_block(self, i: int, tags: dict[str, str], obj: dict, received: int) -> _Block:
        if "t0" not in obj:
            raise PayloadError('waveform block has "values" but no "t0"')
        t0 = self._timestamp(obj["t0"], received, '"t0"')
        rate = _number(obj.get("rate_hz"), '"rate_hz"')
        if not 0 < rate <= _MAX_RATE_HZ:
            raise PayloadError(f'"rate_hz" is {shown(obj.get("rate_hz"))}, expected a positive number of at '
                               f"most {_MAX_RATE_HZ:g} (one sample per nanosecond)")
        values = _array(obj["values"], '"values"', "samples", self.limits.max_waveform_len)
        end = t0 + (len(values) - 1) * 1e9 / rate
        if end > received + self.limits.max_future_ns:
            raise PayloadError(f'the block\'s last sample ({len(values)} samples at {rate:g} Hz from "t0") would be '
                               f"{_iso(int(min(end, 2**62)))}, more than "
                               f"{self.limits.max_future_ns / 3.6e12:g} h ahead of the receive time")
        return _Block(i, tags, t0, rate, _numbers(values, '"values"'))

    def _add_waveforms(self, blocks: list[_Block], messages, rows: _Rows, rejected: list[Rejected]) -> None:
        groups: dict[tuple, list[_Block]] = {}
        for block in blocks:
            groups.setdefault((len(block.values), block.rate_hz, tuple(block.tags.items())), []).append(block)
        for (length, rate_hz, _), group in groups.items():
            if self.waveform_features is not None:
                try:
                    features = self._features(np.stack([b.values for b in group]), rate_hz, group[0].tags)
                except Exception as exc:  # a failing feature function must not lose the messages
                    for b in group:
                        topic, payload, _ = messages[b.message]
                        rejected.append(Rejected(b.message, topic, bytes(payload),
                                                 f"waveform features failed: {type(exc).__name__}: {exc}"))
                    continue
                t0 = np.array([b.t0 for b in group], dtype=np.int64)
                for name, column in features.items():
                    finite = np.isfinite(column)
                    for n in np.flatnonzero(finite).tolist():
                        key = self._key(group[n].tags, measurement="waveform", field=name)
                        rows.idx.append(rows.position(key))
                        rows.ts.append(int(t0[n]))
                        rows.val.append(float(column[n]))
            if self.keep_raw_waveform:
                offsets = np.arange(length, dtype=np.float64) * 1e9
                for b in group:
                    ts = b.t0 + np.rint(offsets / b.rate_hz).astype(np.int64)
                    rows.add_block(self._key(b.tags, measurement="waveform_raw"), ts, b.values)

    def _features(self, blocks: np.ndarray, rate_hz: float, tags: dict[str, str]) -> dict[str, np.ndarray]:
        features = self.waveform_features(blocks, rate_hz, dict(tags))
        checked = {}
        for name, column in features.items():
            if self.waveform_fields is not None and name not in self.waveform_fields:
                continue
            column = np.asarray(column, dtype=np.float64)
            if column.shape != (len(blocks),):
                raise ValueError(f"feature {name!r} has shape {column.shape}, expected ({len(blocks)},)")
            checked[name] = column
        return checked

    # -- timestamps ---------------------------------------------------------------------------------

    def _timestamp(self, raw: object, received: int, what: str) -> int:
        ns = timestamp_ns(raw, what)
        if not self.limits.earliest_ns <= ns <= received + self.limits.max_future_ns:
            self._check_window(ns, received, what, raw)
        return ns

    def _timestamps(self, raw: list, received: int, what: str) -> np.ndarray:
        types = set(map(type, raw))
        if types <= {int, float}:
            # min/max over the list is cheaper than numpy on a 100-element batch, and range-checks
            # before any conversion can overflow
            lo = -(-self.limits.earliest_ns // _MS)
            hi = (received + self.limits.max_future_ns) // _MS
            if not (lo <= min(raw) and max(raw) <= hi):
                k = next(k for k, t in enumerate(raw) if not lo <= t <= hi)
                self._check_window(timestamp_ns(raw[k], f"{what}[{k}]"), received, f"{what}[{k}]", raw[k])
            if types == {int}:
                return np.array(raw, dtype=np.int64) * _MS
            ms = np.array(raw, dtype=np.float64)
            whole = np.floor(ms)  # whole milliseconds stay exact; ms * 1e6 would round them
            return whole.astype(np.int64) * _MS + np.rint((ms - whole) * _MS).astype(np.int64)
        return np.array([self._timestamp(t, received, f"{what}[{k}]") for k, t in enumerate(raw)],
                        dtype=np.int64)

    def _check_window(self, ns: int, received: int, what: str, raw: object) -> None:
        """Raise the reason a timestamp is outside the window (called only when it is)."""
        if ns < self.limits.earliest_ns:
            hint = ""
            if isinstance(raw, (int, float)) and 946_684_800 <= raw < 10_000_000_000:
                hint = "; it looks like epoch seconds, but milliseconds are expected"
            raise PayloadError(f"{what} {shown(raw)} is {_iso(ns)}, before {_iso(self.limits.earliest_ns)}{hint}")
        if ns > received + self.limits.max_future_ns:
            raise PayloadError(f"{what} {shown(raw)} is {_iso(ns)}, {_hours(ns - received)} ahead of the receive "
                               f"time (at most {self.limits.max_future_ns / 3.6e12:g} h allowed)")


def timestamp_ns(raw: object, what: str = '"ts"') -> int:
    """Epoch nanoseconds from epoch milliseconds (int or float) or an ISO 8601 string with offset.

    Raises `PayloadError` naming ``what`` for any other type, a non-finite number or an ISO string
    without a UTC offset (a local time would be stored hours off without anyone noticing).

    >>> timestamp_ns(1763700000123)
    1763700000123000000
    >>> timestamp_ns("2025-11-21T04:40:00.123456789Z")
    1763700000123456789
    """
    kind = type(raw)
    if kind is int:
        return raw * _MS
    if kind is float:
        if raw - raw != 0.0:
            raise PayloadError(f"{what} is {raw!r}, expected a finite number")
        whole = math.floor(raw)  # keeps whole milliseconds exact; raw * 1e6 would round them
        return whole * _MS + round((raw - whole) * _MS)
    if kind is str:
        return _iso_ns(raw, what)
    raise PayloadError(f"{what} is {shown(raw)}, expected epoch milliseconds or an ISO 8601 string")


def _iso_ns(text: str, what: str) -> int:
    fraction_ns = 0
    match = _FRACTION.match(text)
    if match:  # datetime keeps microseconds only; keep every digit up to nanoseconds
        text = match.group(1) + match.group(3)
        fraction_ns = int(match.group(2)[:9].ljust(9, "0"))
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{what} {shown(text)} is not an ISO 8601 timestamp") from None
    if dt.tzinfo is None:
        raise PayloadError(f"{what} {shown(text)} has no UTC offset; add Z or +hh:mm")
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1000 + fraction_ns


def _hours(ns: int) -> str:
    """``ns`` as hours for a reason text; Python ints from JSON such as 1e308 ms overflow a float.

    >>> _hours(5_400_000_000_000), _hours(10**320)
    ('1.5 h', 'more than 1e+300 h')
    """
    if ns > 10**312:
        return "more than 1e+300 h"
    return f"{ns / 3.6e12:.1f} h"


def _iso(ns: int) -> str:
    try:
        return (_EPOCH + timedelta(microseconds=ns // 1000)).isoformat().replace("+00:00", "Z")
    except OverflowError:
        return "out of the calendar's range"


def _number(value: object, what: str) -> float:
    kind = type(value)
    if kind is float:
        if value - value != 0.0:
            raise PayloadError(f"{what} is {value!r}, expected a finite number")
        return value
    if kind is int:
        return float(value)
    if value is None:
        raise PayloadError(f"{what} is missing")
    raise PayloadError(f"{what} is {_json_type(value)} {shown(value)}, expected a number")


def _array(value: object, what: str, items: str, limit: int) -> list:
    """``value`` when it is a non-empty JSON array of at most ``limit`` entries."""
    if type(value) is not list:
        raise PayloadError(f"{what} is {shown(value)}, expected an array")
    if not value:
        raise PayloadError(f"{what} is an empty array")
    if len(value) > limit:
        raise PayloadError(f"{what} has {len(value)} {items}, over the limit of {limit}")
    return value


def _numbers(values: list, what: str) -> np.ndarray:
    if not set(map(type, values)) <= {int, float}:
        k, bad = next((k, v) for k, v in enumerate(values) if type(v) not in _NUMBER)
        _number(bad, f"{what}[{k}]")
    array = np.array(values, dtype=np.float64)
    finite = np.isfinite(array)
    if not finite.all():
        k = int(np.argmin(finite))
        raise PayloadError(f"{what}[{k}] is {values[k]!r}, expected a finite number")
    return array


def _json_type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)
