"""A waveform block in binary: a 32-byte header and the samples as float32 or int16 with a scale.

Sent on a reading topic like the JSON block (``faultline/{site}/{asset}/accel``) and told from JSON
by its first four bytes, so no configuration is needed. A 1,024-sample block is 4 KiB as float32 or
2 KiB as int16, against about 10 KiB of JSON text, and costs microseconds to read instead of
hundreds. Little-endian throughout:

======  ====  =========  ====================================================================
offset  size  type       field
======  ====  =========  ====================================================================
0       4     bytes      magic ``FLWB``
4       1     uint8      format version, 1
5       1     uint8      sample type: 1 = float32, 2 = int16
6       2     uint16     reserved, 0
8       8     int64      ``t0``: time of the first sample, epoch nanoseconds
16      8     float64    ``rate_hz``: samples per second
24      4     float32    ``scale``: a sample's value is ``sample * scale`` (e.g. g per count)
28      4     uint32     number of samples ``n``
32      n×4   float32    the samples (or n×2, int16)
======  ====  =========  ====================================================================

The block is stored exactly like a JSON waveform block (`ingest.codecs.waveform`).

>>> payload = encode(1763700000123000000, 10240.0, np.array([1, -2, 3], dtype=np.int16), scale=0.5)
>>> len(payload), payload[:4]
(38, b'FLWB')
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

import numpy as np

from faultline.ingest.codecs.waveform import check_block
from faultline.ingest.errors import PayloadError

if TYPE_CHECKING:
    from faultline.ingest.codecs.decoder import Output

MAGIC = b"FLWB"
HEADER = struct.Struct("<4sBBHqdfI")
SAMPLE_TYPES: dict[int, np.dtype[Any]] = {1: np.dtype("<f4"), 2: np.dtype("<i2")}


def is_block(payload: bytes) -> bool:
    return payload[:4] == MAGIC


def encode(t0_ns: int, rate_hz: float, samples: np.ndarray, scale: float = 1.0) -> bytes:
    """A binary block of ``samples`` (float32 or int16), for gateways written in Python and for tests."""
    code = {np.dtype("float32"): 1, np.dtype("int16"): 2}[samples.dtype]
    return (
        HEADER.pack(MAGIC, 1, code, 0, t0_ns, rate_hz, scale, len(samples))
        + samples.astype(SAMPLE_TYPES[code]).tobytes()
    )


def decode(tags: dict[str, str], payload: bytes, out: "Output") -> None:
    """Check the header and hand the block to ``out`` (its samples scaled to float64)."""
    if len(payload) < HEADER.size:
        raise PayloadError(f"binary waveform block is {len(payload)} bytes, shorter than its {HEADER.size}-byte header")
    _, version, code, _, t0, rate, scale, n = HEADER.unpack_from(payload)
    if version != 1:
        raise PayloadError(f"binary waveform block has format version {version}; this Faultline reads version 1")
    dtype = SAMPLE_TYPES.get(code)
    if dtype is None:
        raise PayloadError(f"binary waveform block has sample type {code}; known: 1 (float32), 2 (int16)")
    if n == 0 or n > out.decoder.limits.max_waveform_len:
        raise PayloadError(
            f"binary waveform block has {n} samples; expected 1 to {out.decoder.limits.max_waveform_len}"
        )
    if len(payload) != HEADER.size + n * dtype.itemsize:
        raise PayloadError(
            f"binary waveform block says {n} {dtype.name} samples ({HEADER.size + n * dtype.itemsize} "
            f"bytes with the header) but is {len(payload)} bytes"
        )
    if not np.isfinite(scale) or scale == 0:
        raise PayloadError(f"binary waveform block has scale {scale!r}, expected a finite non-zero number")
    out.window(t0, '"t0"')
    check_block(out.decoder, t0, rate, n, out.received, repr(rate))
    samples = np.frombuffer(payload, dtype=dtype, count=n, offset=HEADER.size).astype(np.float64) * scale
    if not np.isfinite(samples).all():
        k = int(np.argmin(np.isfinite(samples)))
        raise PayloadError(f"binary waveform block sample {k} is {float(samples[k])!r}, expected a finite number")
    out.block(tags, t0, rate, samples)


__all__ = ["HEADER", "MAGIC", "decode", "encode", "is_block"]
