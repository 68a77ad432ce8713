"""Payload codecs: MQTT messages (topic, payload, receive time) become columnar `Readings`.

One folder per format, each with a README and a sample configuration:

=========================  ==================================================  ==========================
folder                     format                                              selected by
=========================  ==================================================  ==========================
``flat_json/``             one reading, ``{"ts": .., "value": ..}``            a reading topic, the keys
``batch/``                 ``{"ts": [..], "value": [..]}``                     a reading topic, the keys
``waveform/``              ``{"t0": .., "rate_hz": .., "values": [..]}``       a reading topic, the keys
``gateway_json/``          ``{"readings": [{asset, sensor, ts, value}, ..]}``  the gateway topic
``binary_waveform/``       32-byte header + float32 or int16 samples           a reading topic, magic
``thingsboard_gateway/``   ThingsBoard gateway telemetry                       ``mqtt.codecs`` route
``sparkplug_b/``           Sparkplug B (Eclipse Tahu protobuf)                 ``mqtt.codecs`` route
=========================  ==================================================  ==========================

Faultline's own formats share one parse: the decoder reads the JSON once and the keys say which
shape it is, so they need no configuration and a topic may carry any of them. Formats with topics
of their own are routed by ``mqtt.codecs`` (topic filter → codec; the defaults take ``spBv1.0/#``
and ``v1/gateway/telemetry``), built by `build_codecs`. Epoch timestamps are read by magnitude
(seconds, milliseconds, microseconds or nanoseconds; `ingest.codecs.timestamps`). See
``docs/payloads.md`` for the whole description, with what is rejected and why.
"""

from faultline.ingest.codecs.decoder import (
    RECEIVE_TIME_TAG,
    WAVEFORM_FIELDS,
    Block,
    Codec,
    DecodeLimits,
    Decoder,
    Output,
    Rejected,
    WaveformFeatures,
    topic_matches,
)
from faultline.ingest.codecs.timestamps import timestamp_ns
from faultline.ingest.errors import PayloadError

__all__ = [
    "Block",
    "Codec",
    "DecodeLimits",
    "Decoder",
    "Output",
    "PayloadError",
    "RECEIVE_TIME_TAG",
    "Rejected",
    "WAVEFORM_FIELDS",
    "WaveformFeatures",
    "timestamp_ns",
    "topic_matches",
]
