"""What the runtime hands the detectors from a written batch: the streams they know, in time order."""

from __future__ import annotations

import logging

import numpy as np

from faultline.detectors import DetectorsConfig, Engine
from faultline.ingest.readings import Readings, SeriesKey


def test_readings_arrays_names_waveform_features_and_drops_what_detectors_do_not_take():
    from faultline.service.runtime import readings_arrays

    engine = Engine(DetectorsConfig())
    series = (
        SeriesKey.of("telemetry", {"site": "north", "asset": "P-1", "sensor": "bearing_temp"}),
        SeriesKey.of("waveform", {"site": "north", "asset": "P-1", "sensor": "accel"}, field="kurtosis"),
        SeriesKey.of("waveform_raw", {"asset": "P-1", "sensor": "accel"}),  # raw samples: not for detectors
        SeriesKey.of("telemetry", {"gateway": "gw-1"}),  # no asset: not a stream
    )
    readings = Readings(
        series,
        np.array([0, 1, 2, 3, 0, 1], dtype=np.int32),
        np.array([50, 40, 30, 20, 10, 60], dtype=np.int64),
        np.array([61.0, 3.2, 0.1, 1.0, np.nan, 3.9]),
    )
    sites: dict[str, str] = {}
    s, t, v = readings_arrays(engine, readings, sites)
    assert [engine.stream(i) for i in s.tolist()] == [
        ("P-1", "bearing_temp"),
        ("P-1", "accel.kurtosis"),
        ("P-1", "bearing_temp"),
        ("P-1", "accel.kurtosis"),
    ]
    assert t.tolist() == [10, 40, 50, 60] and np.isnan(v[0]) and v[1:].tolist() == [3.2, 61.0, 3.9]
    assert sites == {"P-1": "north"}


def test_a_reading_that_is_not_finite_is_counted_and_logged_not_scored(tmp_path, caplog):
    from faultline.service.runtime import Runtime
    from tests.service.conftest import T0, batch, service_settings

    runtime = Runtime(service_settings(tmp_path))
    try:
        with caplog.at_level(logging.WARNING, logger="faultline.service.runtime"):
            runtime.detection.handle(batch("P-1", "bearing_temp", T0, [70.0, np.inf, 71.0, np.nan]))
        rejected = runtime.metrics.registry.get_sample_value("faultline_detector_rejected_total")
        assert rejected == 2
        assert "2 readings were not scored because their value is not finite (first: P-1 bearing_temp)" in caplog.text
        latest = runtime.detection.latest[("P-1", "bearing_temp")]
        assert (latest.ts_ns, latest.value) == ((T0 + 120) * 10**9, 71.0)  # the newest finite reading
    finally:
        runtime.close()


def test_checks_that_cannot_resume_their_state_are_named_at_start(tmp_path, caplog):
    import copy

    from faultline.service.runtime import Runtime
    from tests.service.conftest import DETECTORS, T0, batch, service_settings

    runtime = Runtime(service_settings(tmp_path))
    runtime.detection.handle(batch("P-1", "bearing_temp", T0, [70.0, 71.0]))
    runtime.save_state(force=True)
    runtime.close()
    changed = copy.deepcopy(DETECTORS)
    changed["classes"]["default"]["checks"]["hot"]["params"]["high"] = 95
    with caplog.at_level(logging.WARNING, logger="faultline.service.runtime"):
        Runtime(service_settings(tmp_path, changed)).close()
    assert "v2: these checks could not resume their saved state and start afresh" in caplog.text
    assert caplog.text.rstrip().endswith(": hot")
