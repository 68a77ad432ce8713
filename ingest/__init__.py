"""Ingest: MQTT messages to durable readings in a time-series store.

The data path, in the order a message travels:

* `TopicTemplate` turns a topic into tags;
* `Decoder` turns (topic, payload, receive time) messages into columnar `Readings`, returning the
  bad ones as `Rejected` with a reason;
* `encode` (`ingest.lineprotocol`) turns `Readings` into InfluxDB line protocol;
* the writers in `ingest.writers` store them (InfluxDB v1 or v2 API, or the embedded SQLite store);
* `DeadLetterStore` keeps what could not be decoded or stored.
"""

from ingest.codecs import DecodeLimits, Decoder, PayloadError, Rejected
from ingest.deadletter import DeadLetter, DeadLetterRecord, DeadLetterStore
from ingest.lineprotocol import encode, encode_lines
from ingest.readings import Readings, SeriesKey
from ingest.topics import TopicTemplate

__all__ = ["DeadLetter", "DeadLetterRecord", "DeadLetterStore", "DecodeLimits", "Decoder", "PayloadError",
           "Readings", "Rejected", "SeriesKey", "TopicTemplate", "encode", "encode_lines"]
