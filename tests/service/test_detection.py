"""What the runtime hands the detectors from a written batch: the streams they know, in time order."""

from __future__ import annotations

import numpy as np

from detectors import DetectorsConfig, Engine
from ingest.readings import Readings, SeriesKey


def test_readings_arrays_names_waveform_features_and_drops_what_detectors_do_not_take():
    from service.runtime import readings_arrays

    engine = Engine(DetectorsConfig())
    series = (
        SeriesKey.of("telemetry", {"site": "north", "asset": "P-1", "sensor": "bearing_temp"}),
        SeriesKey.of("waveform", {"site": "north", "asset": "P-1", "sensor": "accel"}, field="kurtosis"),
        SeriesKey.of("waveform_raw", {"asset": "P-1", "sensor": "accel"}),    # raw samples: not for detectors
        SeriesKey.of("telemetry", {"gateway": "gw-1"}),                         # no asset: not a stream
    )
    readings = Readings(series, np.array([0, 1, 2, 3, 0, 1], dtype=np.int32),
                        np.array([50, 40, 30, 20, 10, 60], dtype=np.int64),
                        np.array([61.0, 3.2, 0.1, 1.0, np.nan, 3.9]))
    sites: dict[str, str] = {}
    s, t, v = readings_arrays(engine, readings, sites)
    assert [engine.stream(i) for i in s.tolist()] == [("P-1", "accel.kurtosis"), ("P-1", "bearing_temp"),
                                                      ("P-1", "accel.kurtosis")]
    assert t.tolist() == [40, 50, 60] and v.tolist() == [3.2, 61.0, 3.9]
    assert sites == {"P-1": "north"}
