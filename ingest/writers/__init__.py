"""Time-series writers: InfluxDB v1 and v2 APIs over line protocol, and the embedded SQLite store.

Every writer has ``write(readings) -> WriteResult`` and ``close()`` (the `Writer` protocol) and
signals failure with `RetryableWriteError` (try the same batch again later, after a
`faultline.vocabulary.Backoff`) or
`FatalWriteError` (stop writing; an operator must fix credentials or configuration).

The InfluxDB writers are imported on first use: ``influxdb-client`` and ``httpx`` take a few tenths
of a second to import, which a process that only needs the SQLite store should not pay.
"""

from importlib import import_module

from faultline.ingest.writers.base import EncodedBatch, LineProtocolWriter, RejectedLine, Writer, WriteResult
from faultline.ingest.writers.errors import FatalWriteError, RetryableWriteError, WriteError
from faultline.ingest.writers.sqlite import SqliteStore

_LAZY = {"InfluxV1Writer": "faultline.ingest.writers.influx_v1", "InfluxV2Writer": "faultline.ingest.writers.influx_v2"}

__all__ = [
    "EncodedBatch",
    "FatalWriteError",
    "InfluxV1Writer",
    "InfluxV2Writer",
    "LineProtocolWriter",
    "RejectedLine",
    "RetryableWriteError",
    "SqliteStore",
    "WriteError",
    "WriteResult",
    "Writer",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
