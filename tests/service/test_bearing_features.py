"""A bearing fault reaches the detectors live: the simulator's outer-race fault, published as waveform
blocks, is decoded by the runtime's decoder (which diagnoses the bearing from the envelope spectrum at
the asset's bearing-defect frequencies), stored, and ends as one ``bearing_outer_race`` finding and
work order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.service.conftest import service_settings

BEARING = {"n_balls": 9, "ball_diameter_mm": 12.7, "pitch_diameter_mm": 58.5, "contact_angle_deg": 0}
START = datetime(2026, 11, 20, tzinfo=UTC)


def fleet() -> dict:
    # one pump sending only acceleration blocks, one a minute
    return {
        "seed": 11,
        "broker": "mqtt://127.0.0.1:1",
        "waveform": {"every": "1m"},
        "assets": [
            {
                "id": "P-1",
                "site": "north",
                "type": "centrifugal_pump",
                "running_speed_hz": 24.6,
                "iso_group": 2,
                "criticality": "A",
                "bearing": BEARING,
                "rated_current_a": 62,
                "sensors": ["accel"],
                "payload": "single",
                "faults": [
                    {"mode": "bearing_outer_race", "onset": "3h", "failure": "7h", "growth": "exponential", "rate": 4}
                ],
            }
        ],
    }


def detectors(bearing: dict | None) -> dict:
    asset = {"class": "default", "site": "north", "running_speed_hz": 24.6}
    if bearing:
        asset["bearing"] = bearing
    return {
        "classes": {
            "default": {
                "checks": {
                    "bearing_defect": {
                        "sensor": "accel.bearing_defect",
                        "detector": "static_limit",
                        "params": {"high": 1.0},
                        "fault_mode": "bearing_defect",
                        "rule": {"alarm": 1.0, "clear": 0.8, "n": 2, "m": 3, "clear_after": "6h"},
                    }
                },
                "waveform": {"sensor": "accel", "features": ["rms"], "defect_band_hz": [2000, 5000]},
            }
        },
        "assets": {"P-1": asset},
    }


def run_fault(tmp_path, bearing: dict | None):
    from faultline.ingest.writers import SqliteStore
    from faultline.service.runtime import Runtime
    from faultline.simulators import Fleet, simulate_offline
    from faultline.simulators.publish import run_messages

    runtime = Runtime(service_settings(tmp_path, detectors(bearing)))
    try:
        run = simulate_offline(Fleet.from_dict(fleet()), start=START, duration=timedelta(hours=6))
        messages = list(run_messages(run)[0])
        decoder = runtime.new_decoder()
        store = SqliteStore(runtime.settings.store.path)
        try:
            for i in range(0, len(messages), 60):  # an hour of blocks per batch, as the pipeline hands them
                readings, rejected = decoder.decode_many(
                    [(m.topic, m.payload, m.at_ns + int(START.timestamp()) * 10**9) for m in messages[i : i + 60]]
                )
                assert not rejected
                store.write(readings)
                runtime.detection.handle(readings)
        finally:
            store.close()
        fields = {s.sensor for s in runtime.reader.series()}
        return fields, runtime.orders.orders()
    finally:
        runtime.close()


def test_outer_race_fault_in_waveform_blocks_opens_a_bearing_work_order(tmp_path):
    fields, orders = run_fault(tmp_path, BEARING)
    assert {
        "accel.bearing_defect",
        "accel.bearing_mode",
        "accel.bpfo",
        "accel.bpfi",
        "accel.bsf",
        "accel.rms",
    } <= fields
    assert [(o.asset, o.fault_mode) for o in orders] == [("P-1", "bearing_outer_race")]


def test_without_the_bearing_geometry_no_defect_ratios_are_stored(tmp_path):
    fields, orders = run_fault(tmp_path, None)
    assert "accel.rms" in fields and not fields & {
        "accel.bearing_defect",
        "accel.bpfo",
        "accel.bpfi",
        "accel.bsf",
        "accel.ftf",
    }
    assert orders == []
