"""Binary waveform blocks (float32, int16 with a scale) decode like their JSON twin; bad headers are
rejected with a reason naming the bad field."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from faultline.ingest.codecs import Decoder
from faultline.ingest.codecs.binary_waveform import HEADER, MAGIC, encode

NOW = 1_763_700_000_000 * 1_000_000
T0 = NOW - 5_000_000_000
TOPIC = "faultline/plant1/pump7/accel"


def features(blocks, rate_hz, tags):
    return {"rms": np.sqrt((blocks * blocks).mean(axis=1)), "peak": np.abs(blocks).max(axis=1)}


@pytest.fixture
def decoder():
    return Decoder("faultline/{site}/{asset}/{sensor}", waveform_features=features, keep_raw_waveform=True)


def stored(readings):
    return sorted(
        (k.measurement, k.field, t, v)
        for k, t, v in (
            (readings.series[i], t, v)
            for i, t, v in zip(readings.index.tolist(), readings.ts.tolist(), readings.value.tolist())
        )
    )


@pytest.mark.parametrize(
    "samples, scale",
    [
        (np.array([0.5, -1.25, 2.0, -0.75], dtype=np.float32), 1.0),
        (np.array([100, -250, 400, -150], dtype=np.int16), 0.005),
    ],
)
def test_a_binary_block_is_stored_as_its_json_twin(decoder, samples, scale):
    binary = decoder.decode(TOPIC, encode(T0, 2048.0, samples, scale=scale), NOW)
    values = (samples.astype(np.float64) * np.float64(np.float32(scale))).tolist()
    twin = decoder.decode(TOPIC, orjson.dumps({"t0": T0, "rate_hz": 2048.0, "values": values}), NOW)
    assert stored(binary) == stored(twin)
    assert {(m, f) for m, f, _, _ in stored(binary)} == {
        ("waveform", "rms"),
        ("waveform", "peak"),
        ("waveform_raw", "value"),
    }


def header(**fields):
    values = {"magic": MAGIC, "version": 1, "kind": 1, "reserved": 0, "t0": T0, "rate": 100.0, "scale": 1.0, "n": 2}
    values.update(fields)
    return HEADER.pack(*values.values())


@pytest.mark.parametrize(
    "payload, reason",
    [
        (MAGIC + b"\x01\x01", "shorter than its 32-byte header"),
        (header(version=2) + b"\0" * 8, "format version 2"),
        (header(kind=7) + b"\0" * 8, "sample type 7; known: 1 (float32), 2 (int16)"),
        (header(n=3) + b"\0" * 8, "says 3 float32 samples (44 bytes with the header) but is 40 bytes"),
        (header(n=0), "has 0 samples"),
        (header(scale=0.0) + b"\0" * 8, "scale 0.0"),
        (header(rate=-5.0) + b"\0" * 8, '"rate_hz" is -5.0'),
        (header(t0=10) + b"\0" * 8, '"t0" 10 is 1970-01-01'),
        (header() + struct.pack("<2f", 1.0, float("nan")), "sample 1 is nan"),
    ],
)
def test_a_bad_block_is_rejected_naming_the_field(decoder, payload, reason):
    readings, rejected = decoder.decode_many([(TOPIC, payload, NOW)])
    assert len(readings) == 0 and len(rejected) == 1
    assert reason in rejected[0].reason, rejected[0].reason
