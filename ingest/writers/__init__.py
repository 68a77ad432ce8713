"""Time-series writers: InfluxDB v1 and v2 APIs over line protocol, and the embedded SQLite store.

Every writer has ``write(readings) -> WriteResult`` and ``close()`` (the `Writer` protocol) and
signals failure with `RetryableWriteError` (try the same batch again later, after `Backoff`) or
`FatalWriteError` (stop writing; an operator must fix credentials or configuration).
"""

from ingest.writers.backoff import Backoff
from ingest.writers.base import EncodedBatch, LineProtocolWriter, RejectedLine, Writer, WriteResult
from ingest.writers.errors import FatalWriteError, RetryableWriteError, WriteError
from ingest.writers.influx_v1 import InfluxV1Writer
from ingest.writers.influx_v2 import InfluxV2Writer
from ingest.writers.sqlite import SqliteStore

__all__ = ["Backoff", "EncodedBatch", "FatalWriteError", "InfluxV1Writer", "InfluxV2Writer", "LineProtocolWriter",
           "RejectedLine", "RetryableWriteError", "SqliteStore", "WriteError", "WriteResult", "Writer"]
