"""Hard mode: each property of real plant data is present and measurable; easy mode is untouched."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import median_filter
from scipy.stats import kurtosis

from faultline.simulators import Fleet, FleetError, HardMode, simulate_offline
from faultline.simulators.physics import first_order_lag
from tests.simulators.conftest import START, fleet_data, pump

ROOT = Path(__file__).resolve().parents[2]

# every hard-mode property switched off, so a test can switch on the one it measures
QUIET = {
    "daily_load_swing": 0.0,
    "weekend_load": 1.0,
    "night_stop_share": 0.0,
    "speed_levels": [1.0],
    "weather_c": 0.0,
    "glitches_per_day": 0.0,
    "freezes_per_asset_week": 0.0,
    "outages_per_gateway_week": 0.0,
    "resolution": {"vibration_rms": 0, "vibration_axial_rms": 0, "bearing_temp": 0, "motor_current": 0},
}


def _hard_fleet(*assets, **hard) -> Fleet:
    return Fleet.from_dict(fleet_data(*assets, mode="hard", hard={**QUIET, **hard}))


def _run(fleet: Fleet, days: float, seed: int = 7, **kw):
    return simulate_offline(fleet, seed=seed, start=START, duration=timedelta(days=days), **kw)


def _values(run, asset: str, sensor: str) -> np.ndarray:
    return run.tables[asset].columns[sensor]


def test_easy_mode_ignores_every_hard_setting():
    plain = Fleet.from_dict(fleet_data(pump(sensors=["vibration_rms", "bearing_temp", "motor_current", "accel"])))
    loud = Fleet.from_dict(
        fleet_data(
            pump(sensors=["vibration_rms", "bearing_temp", "motor_current", "accel"]),
            mode="easy",
            hard={"daily_load_swing": 0.9, "glitches_per_day": 50, "freezes_per_asset_week": 9, "noise_df": 2.5},
        )
    )
    a, b = _run(plain, 1), _run(loud, 1)
    for sensor, values in a.tables["P-1"].columns.items():
        np.testing.assert_array_equal(values, b.tables["P-1"].columns[sensor])
    np.testing.assert_array_equal(a.tables["P-1"].waveform, b.tables["P-1"].waveform)
    assert a.labels == b.labels and a.mode == "easy"
    hard = _run(plain, 1, mode="hard")
    assert hard.mode == "hard"
    assert not np.array_equal(hard.tables["P-1"].columns["motor_current"], a.tables["P-1"].columns["motor_current"])


def test_hard_mode_is_deterministic_per_seed():
    fleet = Fleet.from_yaml(ROOT / "config/fleet.yaml")
    a, b, c = (_run(fleet, 2, seed=s, mode="hard") for s in (3, 3, 4))
    for asset, table in a.tables.items():
        for sensor, values in table.columns.items():
            np.testing.assert_array_equal(values, b.tables[asset].columns[sensor])
        np.testing.assert_array_equal(table.waveform, b.tables[asset].waveform)
    assert a.labels == b.labels
    assert any(
        not np.array_equal(v, c.tables[asset].columns[s], equal_nan=True)
        for asset, t in a.tables.items()
        for s, v in t.columns.items()
    )
    assert a.labels != c.labels  # drawn fault sizes and onsets differ


def test_readings_are_quantised_to_each_sensors_resolution():
    resolution = {"vibration_rms": 0.01, "bearing_temp": 0.1, "motor_current": 0.1}
    run = _run(_hard_fleet(pump(), resolution=resolution), 1)
    # a sensor not named keeps its default resolution
    assert Fleet.from_dict(fleet_data(pump(), hard={"resolution": {"bearing_temp": 0.5}})).hard.resolution == {
        "vibration_rms": 0.01,
        "vibration_axial_rms": 0.01,
        "bearing_temp": 0.5,
        "motor_current": 0.1,
    }
    for sensor, step in resolution.items():
        v = _values(run, "P-1", sensor)
        steps = v / step
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)
        jumps = np.abs(np.diff(v))
        assert np.min(jumps[jumps > 0]) == pytest.approx(step)
    # the bearing temperature's transmitter is quiet: most minutes repeat the last value, as on a plant
    temp = _values(run, "P-1", "bearing_temp")
    assert np.mean(np.diff(temp) == 0) > 0.5


def test_the_daily_load_cycle_shows_in_the_spectrum_and_the_weekend_is_quieter():
    run = _run(_hard_fleet(pump(), daily_load_swing=0.3, weekend_load=0.7), 14)
    current = _values(run, "P-1", "motor_current")
    hourly = current.reshape(-1, 60).mean(axis=1)
    power = np.abs(np.fft.rfft(hourly - hourly.mean())) ** 2
    cycles_per_day = np.fft.rfftfreq(len(hourly), d=1 / 24)
    daily = np.argmin(np.abs(cycles_per_day - 1.0))
    sub_daily = (cycles_per_day > 1.5) & (cycles_per_day < 12)
    assert power[daily] > 20 * np.median(power[sub_daily])
    # 2026-01-05 is a Monday: days 5, 6, 12, 13 are the weekend
    daily_mean = current.reshape(14, -1).mean(axis=1)
    weekend = daily_mean[[5, 6, 12, 13]].mean()
    weekday = daily_mean[[0, 1, 2, 3, 4, 7, 8, 9, 10, 11]].mean()
    assert 0.6 < weekend / weekday < 0.9
    easy = _run(Fleet.from_dict(fleet_data(pump())), 14)
    flat = easy.tables["P-1"].columns["motor_current"].reshape(14, -1).mean(axis=1)
    assert np.ptp(flat) < 0.01 * flat.mean()  # the easy pump's load never moves


def test_noise_is_heavy_tailed_and_glitches_are_single_samples():
    steady = _run(_hard_fleet(pump()), 3)
    easy = _run(Fleet.from_dict(fleet_data(pump())), 3)
    hard_noise = np.diff(_values(steady, "P-1", "motor_current"))
    easy_noise = np.diff(easy.tables["P-1"].columns["motor_current"])
    assert kurtosis(hard_noise) > 1.5  # excess kurtosis: Student-t tails
    assert abs(kurtosis(easy_noise)) < 0.5  # Gaussian
    assert np.std(hard_noise) == pytest.approx(np.std(easy_noise), rel=0.15)  # same scale, other tails

    glitchy = _run(_hard_fleet(pump(), glitches_per_day=3.0), 3)
    v = _values(glitchy, "P-1", "motor_current")
    clean = _values(steady, "P-1", "motor_current")
    odd = np.flatnonzero(np.abs(v - clean) > 0)
    assert 3 <= len(odd) <= 20  # about 3 a day for 3 days
    assert np.all(np.diff(odd) > 1)  # each one sample long
    assert np.all(np.abs(v[odd] - clean[odd]) > 0.2 * clean[odd])
    assert glitchy.labels == []  # noise, not a fault


def test_operating_point_changes_happen_and_are_not_labelled():
    run = _run(
        _hard_fleet(pump(), daily_load_swing=0.3, night_stop_share=0.6, speed_levels=[0.8, 0.9, 1.0], speed_dwell="6h"),
        7,
    )
    assert run.labels == []
    current = _values(run, "P-1", "motor_current")
    vibration = _values(run, "P-1", "vibration_rms")
    temp = _values(run, "P-1", "bearing_temp")
    # a stopped motor's transducer still reads noise (and the odd heavy-tailed jump) around 0 A
    stopped = median_filter(current, size=9) < 5.0
    assert stopped.sum() > 4 * 60  # several nights off
    starts = np.flatnonzero(np.diff(stopped.astype(int)) == -1) + 1
    assert len(starts) >= 2
    # a drive speed change: vibration (∝ speed²) moves between levels while the pump runs
    running_vib = vibration[~stopped].reshape(-1)
    assert np.percentile(running_vib, 90) > 1.25 * np.percentile(running_vib, 10)
    # physics follows with lags: the current jumps on a restart, the bearing temperature creeps up
    s = starts[0]
    assert current[s + 2] > 0.8 * np.median(current[s + 30 : s + 60])
    rise = temp[s + 120] - temp[s - 1]
    assert rise > 2.0
    assert temp[s + 5] - temp[s - 1] < 0.3 * rise


def test_a_fault_first_shows_as_a_broken_relation_before_any_limit():
    """Lubrication loss: bearing temperature leaves what the load explains while it is still
    unremarkable on its own."""
    fault = {"mode": "lubrication_loss", "onset": "4d", "failure": "14d", "growth": "linear"}
    healthy = _run(_hard_fleet(pump(), daily_load_swing=0.4), 10)
    faulty = _run(
        _hard_fleet(pump(faults=[fault]), daily_load_swing=0.4, fault_magnitude=[0.3, 0.3], onset_jitter="0s"), 10
    )
    label = faulty.labels[0]
    assert label.params["magnitude"] == 0.3 and label.kind == "equipment"
    current, temp = _values(faulty, "P-1", "motor_current"), _values(faulty, "P-1", "bearing_temp")
    # the relation: temperature ≈ a + b·(current² through the bearing's thermal lag), fitted on days 0-3
    heat = first_order_lag(current.astype(float) ** 2, 2400.0, 60.0)
    fit = slice(240, 4 * 1440)
    b, a = np.polyfit(heat[fit], temp[fit], 1)
    residual = temp - (a + b * heat)
    sigma = np.std(residual[fit])
    daily = residual[: 10 * 1440].reshape(10, 1440).mean(axis=1)
    broken = np.flatnonzero(daily > 5 * sigma)
    assert len(broken) and broken[0] >= 4  # not before the onset
    first = slice(broken[0] * 1440, (broken[0] + 1) * 1440)
    # on the first day the relation is clearly broken, the temperature itself is unremarkable against
    # its own spread on the healthy machine (the load cycle sweeps it over several degrees)
    own = _values(healthy, "P-1", "bearing_temp")
    assert (np.max(temp[first]) - np.mean(own)) / np.std(own) < 3


def test_fault_subtlety_and_onset_are_drawn_per_seed():
    fleet = Fleet.from_yaml(ROOT / "config/fleet.yaml")
    mags, onsets = [], set()
    for seed in (1, 2, 3, 4, 5):
        run = _run(fleet, 1, seed=seed, mode="hard")
        equipment = [label for label in run.labels if label.kind == "equipment"]
        assert len(equipment) == sum(len(a.faults) for a in fleet.assets)
        mags += [label.params["magnitude"] for label in equipment]
        onsets.add(tuple(label.onset for label in equipment))
    low, high = fleet.hard.fault_magnitude
    assert all(low <= m <= high for m in mags)
    assert min(mags) < 0.5 and max(mags) > 0.8  # some subtle, some not
    assert len(onsets) == 5


def test_labels_cover_every_injected_fault_and_data_quality_event():
    fleet = Fleet.from_yaml(ROOT / "config/fleet.yaml")
    fleet = fleet.model_copy(
        update={"hard": fleet.hard.model_copy(update={"freezes_per_asset_week": 3.0, "outages_per_gateway_week": 3.0})}
    )
    run = _run(fleet, 7, seed=5, mode="hard")
    as_run = run.fleet
    kinds = [label.kind for label in run.labels]
    assert kinds.count("equipment") == sum(len(a.faults) for a in as_run.assets)
    assert kinds.count("sensor") == sum(len(a.sensor_faults) for a in as_run.assets)
    assert kinds.count("gateway") == sum(len(g.faults) for g in as_run.gateways)
    drawn = [label for label in run.labels if label.params.get("drawn")]
    assert {label.fault_mode for label in drawn} == {"stuck_sensor", "offline"}
    assert all(label.kind in ("sensor", "gateway") and label.end is not None for label in drawn)
    for label in run.labels:
        assert label.onset >= START and (label.failure or label.end) > label.onset
        if label.fault_mode == "stuck_sensor":
            table = run.tables[label.asset]
            t = START + (table.elapsed_ns * 1e-9).astype("timedelta64[s]").astype(object)
            inside = np.array([label.onset <= x < label.end for x in t])
            frozen = table.columns[label.sensors[0]][inside]
            assert np.all(frozen == frozen[0]) and frozen[0] == label.params["value"]
        if label.fault_mode == "offline":
            for asset in label.params["assets"]:
                table = run.tables[asset]
                lo = (label.onset - START).total_seconds() * 1e9
                hi = (label.end - START).total_seconds() * 1e9
                inside = (table.elapsed_ns >= lo) & (table.elapsed_ns < hi)
                assert table.lost[inside].all()
                assert label.params["lost_readings"] > 0 or not inside.any()


def test_seed_sets_are_documented_and_kept_apart():
    fleet = Fleet.from_yaml(ROOT / "config/fleet.yaml")
    assert fleet.mode == "easy"  # the default stays easy
    assert fleet.hard == HardMode()  # the sample file states the code's defaults
    assert fleet.seeds.tuning and fleet.seeds.evaluation
    assert not set(fleet.seeds.tuning) & set(fleet.seeds.evaluation)
    with pytest.raises(FleetError, match="both tuning and evaluation"):
        Fleet.from_dict(fleet_data(pump(), seeds={"tuning": [1, 2], "evaluation": [2, 3]}))
    with pytest.raises(FleetError, match="hard.fault_magnitude"):
        Fleet.from_dict(fleet_data(pump(), hard={"fault_magnitude": [0.9, 0.2]}))


def test_a_shorter_hard_run_is_the_start_of_a_longer_one():
    fleet = Fleet.from_yaml(ROOT / "config/fleet.yaml")
    short, long = _run(fleet, 2, seed=104, mode="hard"), _run(fleet, 4, seed=104, mode="hard")
    for asset, table in short.tables.items():
        n = len(table.elapsed_ns)
        for sensor, values in table.columns.items():
            np.testing.assert_array_equal(values, long.tables[asset].columns[sensor][:n])

    def drawn(run):
        return [(x.asset, x.gateway, x.sensors, x.onset, x.end) for x in run.labels if x.params.get("drawn")]

    end = START + timedelta(days=2)
    assert drawn(short) == [x for x in drawn(long) if x[3] < end]
    assert [x for x in short.labels if x.kind == "equipment"] == [x for x in long.labels if x.kind == "equipment"]
