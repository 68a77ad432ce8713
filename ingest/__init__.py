"""Ingest: MQTT messages to durable readings in a time-series store.

The data path, in the order a message travels:

* `TopicTemplate` turns a topic into tags;
* `Decoder` turns (topic, payload, receive time) messages into columnar `Readings`, returning the
  bad ones as `Rejected` with a reason;
* `encode` (`ingest.lineprotocol`) turns `Readings` into InfluxDB line protocol;
* the writers in `ingest.writers` store them (InfluxDB v1 or v2 API, or the embedded SQLite store);
* `DeadLetterStore` keeps what could not be decoded or stored.

The flow around it: `ingest.source.MqttSource` receives and acknowledges late, `Spool` keeps decoded
readings durable until a writer confirmed them (`SpoolFull` when over its disk budget), and
`ingest.pipeline` (`Pipeline`, `run_ingest`) connects source, decoder, spool and writer. Those two
modules load paho and the HTTP clients, so they are imported from there, not here.
"""

from faultline.ingest.codecs import DecodeLimits, Decoder, PayloadError, Rejected
from faultline.ingest.deadletter import DeadLetter, DeadLetterRecord, DeadLetterStore
from faultline.ingest.lineprotocol import encode, encode_lines
from faultline.ingest.readings import Readings, SeriesKey
from faultline.ingest.spool import Spool, SpoolFull
from faultline.ingest.topics import TopicTemplate

__all__ = [
    "DeadLetter",
    "DeadLetterRecord",
    "DeadLetterStore",
    "DecodeLimits",
    "Decoder",
    "PayloadError",
    "Readings",
    "Rejected",
    "SeriesKey",
    "Spool",
    "SpoolFull",
    "TopicTemplate",
    "encode",
    "encode_lines",
]
