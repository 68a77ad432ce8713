"""Each fault leaves the signature a vibration analyst expects.

Machine faults draw no random numbers, so a run with a fault and the same run without it share
every noise sample: comparing the two isolates the fault's own effect.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from scipy.signal import butter, hilbert, sosfiltfilt

from faultline.simulators import Fleet, simulate_offline
from faultline.simulators.physics import TYPE_PHYSICS
from tests.simulators.conftest import START, fleet_data, pump

FS = 10240.0
SHAFT = 25.0
DAY = timedelta(days=1)


def _run(*assets, days=3, **top):
    return simulate_offline(Fleet.from_dict(fleet_data(*assets, **top)), start=START, duration=days * DAY)


def _hours(ts_ns):
    return (ts_ns - ts_ns[0]) / 3.6e12


def _amplitude_spectrum(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean single-sided amplitude spectrum of blocks (B, N) with a Hann window."""
    n = blocks.shape[1]
    window = np.hanning(n)
    spectra = np.abs(np.fft.rfft(blocks * window, axis=1)) * 2 / window.sum()
    return np.fft.rfftfreq(n, 1 / FS), spectra.mean(axis=0)


def _envelope_spectrum(blocks: np.ndarray, band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Envelope spectrum: band-pass around the resonance, |hilbert|, spectrum of the envelope."""
    sos = butter(4, band, btype="bandpass", fs=FS, output="sos")
    envelope = np.abs(hilbert(sosfiltfilt(sos, blocks.astype(np.float64), axis=1), axis=1))
    envelope -= envelope.mean(axis=1, keepdims=True)
    return _amplitude_spectrum(envelope)


def _at(freqs, spectrum, f, tolerance=1):
    i = int(np.argmin(np.abs(freqs - f)))
    return spectrum[max(i - tolerance, 0) : i + tolerance + 1].max()


def _late_blocks(run, asset="P-1", after_hours=48):
    t0, rate, blocks = run.waveforms[(asset, "accel")]
    assert rate == FS
    return blocks[_hours(t0) >= after_hours]


RESONANCE = TYPE_PHYSICS["centrifugal_pump"]["resonance_hz"]
BAND = (RESONANCE - 1000, RESONANCE + 1000)


def test_outer_race_defect_puts_an_envelope_peak_at_bpfo():
    fault = {"mode": "bearing_outer_race", "onset": "1d", "failure": "5d", "growth": "linear"}
    run = _run(pump(faults=[fault]))
    bpfo = run.assets["P-1"].defect_frequencies()["bpfo"]
    assert bpfo == pytest.approx(3.585 * SHAFT, rel=1e-3)  # 6205 geometry at 25 Hz

    # early in the fault's life (severity ~0.25-0.5), where an envelope analysis earns its keep
    freqs, env = _envelope_spectrum(_late_blocks(run), BAND)
    search = (freqs > 10) & (freqs < 500)
    peak = freqs[search][np.argmax(env[search])]
    assert abs(peak - bpfo) <= freqs[1]  # within one bin of the frequency computed from geometry
    assert _at(freqs, env, 2 * bpfo) > 5 * np.median(env[search])  # and its harmonic stands out

    healthy = _envelope_spectrum(_late_blocks(_run(pump())), BAND)[1]
    assert _at(freqs, env, bpfo) > 10 * _at(freqs, healthy, bpfo)


def test_inner_race_defect_shows_bpfi_with_shaft_sidebands():
    fault = {"mode": "bearing_inner_race", "onset": "1d", "failure": "4d", "growth": "linear"}
    run = _run(pump(faults=[fault]))
    bpfi = run.assets["P-1"].defect_frequencies()["bpfi"]
    freqs, env = _envelope_spectrum(_late_blocks(run), BAND)
    healthy = _envelope_spectrum(_late_blocks(_run(pump())), BAND)[1]
    floor = np.median(env[(freqs > 10) & (freqs < 500)])
    assert _at(freqs, env, bpfi) > 10 * floor
    # the defect turns with the shaft through the load zone: sidebands at BPFI ± 1×
    assert _at(freqs, env, bpfi - SHAFT) > 5 * floor and _at(freqs, env, bpfi + SHAFT) > 5 * floor
    assert _at(freqs, env, bpfi) > 10 * _at(freqs, healthy, bpfi)


def test_imbalance_raises_1x_and_leaves_2x_alone():
    fault = {"mode": "imbalance", "onset": "12h", "failure": "2d", "growth": "linear"}
    faulty, healthy = _run(pump(faults=[fault])), _run(pump())
    freqs, spec = _amplitude_spectrum(_late_blocks(faulty))
    base = _amplitude_spectrum(_late_blocks(healthy))[1]
    assert _at(freqs, spec, SHAFT, 0) > 5 * _at(freqs, base, SHAFT, 0)
    assert _at(freqs, spec, 2 * SHAFT, 0) == pytest.approx(_at(freqs, base, 2 * SHAFT, 0), rel=0.3)

    ts, vib = faulty.scalars[("P-1", "vibration_rms")]
    _, vib0 = healthy.scalars[("P-1", "vibration_rms")]
    late = _hours(ts) >= 48
    assert np.median(vib[late]) >= 4.5  # reaches the ISO 20816-3 group 2 rigid C/D boundary
    assert np.median(vib0[late]) < 1.4  # healthy machine stays in zone A


def test_misalignment_raises_2x_and_axial():
    fault = {"mode": "misalignment", "onset": "12h", "failure": "2d", "growth": "linear"}
    sensors = ["vibration_rms", "vibration_axial_rms", "bearing_temp", "motor_current", "accel"]
    faulty, healthy = _run(pump(faults=[fault], sensors=sensors)), _run(pump(sensors=sensors))
    freqs, spec = _amplitude_spectrum(_late_blocks(faulty))
    base = _amplitude_spectrum(_late_blocks(healthy))[1]
    assert _at(freqs, spec, 2 * SHAFT, 0) > 5 * _at(freqs, base, 2 * SHAFT, 0)
    ts, axial = faulty.scalars[("P-1", "vibration_axial_rms")]
    _, axial0 = healthy.scalars[("P-1", "vibration_axial_rms")]
    late = _hours(ts) >= 48
    assert np.median(axial[late]) > 5 * np.median(axial0[late])


def test_looseness_adds_harmonics_and_a_half_order():
    fault = {"mode": "looseness", "onset": "12h", "failure": "2d", "growth": "linear"}
    freqs, spec = _amplitude_spectrum(_late_blocks(_run(pump(faults=[fault]))))
    base = _amplitude_spectrum(_late_blocks(_run(pump())))[1]
    for order in (0.5, 3, 5, 7):
        assert _at(freqs, spec, order * SHAFT, 0) > 5 * _at(freqs, base, order * SHAFT, 0), order


def test_lubrication_loss_heats_the_bearing_through_the_thermal_lag():
    fault = {"mode": "lubrication_loss", "onset": "1d", "failure": "1d1h", "growth": "step"}
    faulty, healthy = _run(pump(faults=[fault])), _run(pump())
    ts, temp = faulty.scalars[("P-1", "bearing_temp")]
    _, temp0 = healthy.scalars[("P-1", "bearing_temp")]
    rise = temp - temp0
    minutes = (ts - ts[0]) / 6e10
    tau_min = TYPE_PHYSICS["centrifugal_pump"]["thermal_tau_s"] / 60
    assert np.all(rise[minutes < 1440] == 0)
    # a first-order lag covers 63.2 % of a step after one time constant, 99.3 % after five
    at_tau = rise[np.searchsorted(minutes, 1440 + tau_min)]
    assert at_tau == pytest.approx(25.0 * (1 - np.exp(-1)), abs=0.6)
    assert rise[np.searchsorted(minutes, 1440 + 5 * tau_min)] == pytest.approx(25.0, abs=0.6)
    assert rise[np.searchsorted(minutes, 1440 + 5)] < 0.25 * 25.0  # not instantaneous


def test_bearing_defect_kurtosis_rises_first_then_rms_then_temperature():
    fault = {"mode": "bearing_outer_race", "onset": "1d", "failure": "9d", "growth": "exponential", "rate": 4}
    faulty, healthy = _run(pump(faults=[fault]), days=9), _run(pump(), days=9)

    t0, _, blocks = faulty.waveforms[("P-1", "accel")]
    centred = blocks.astype(np.float64) - blocks.mean(axis=1, keepdims=True)
    kurtosis = (centred**4).mean(axis=1) / (centred**2).mean(axis=1) ** 2
    first_kurtosis = _hours(t0)[np.argmax(kurtosis > 5)]

    ts, vib = faulty.scalars[("P-1", "vibration_rms")]
    _, vib0 = healthy.scalars[("P-1", "vibration_rms")]
    hourly = (vib / vib0).reshape(-1, 60).mean(axis=1)
    first_rms = np.argmax(hourly > 1.25)

    _, temp = faulty.scalars[("P-1", "bearing_temp")]
    _, temp0 = healthy.scalars[("P-1", "bearing_temp")]
    first_temp = np.argmax((temp - temp0).reshape(-1, 60).mean(axis=1) > 1.0)

    assert 24 <= first_kurtosis < first_rms < first_temp < 9 * 24


def test_stuck_sensor_repeats_one_value_and_dropout_leaves_a_gap():
    faults = [
        {"mode": "stuck_sensor", "sensor": "bearing_temp", "start": "1d", "end": "1d6h"},
        {"mode": "dropout", "sensor": "motor_current", "start": "2d", "end": "2d2h"},
    ]
    run = _run(pump(sensor_faults=faults))
    ts, temp = run.scalars[("P-1", "bearing_temp")]
    hours = _hours(ts)
    stuck = temp[(hours >= 24) & (hours < 30)]
    assert len(stuck) == 360 and np.unique(stuck).size == 1
    assert np.unique(temp[(hours >= 18) & (hours < 24)]).size > 20
    label = next(lb for lb in run.labels if lb.fault_mode == "stuck_sensor")
    assert label.params["value"] == stuck[0] and label.sensors == ("bearing_temp",)

    ts, _ = run.scalars[("P-1", "motor_current")]
    gap = np.diff(ts).max()
    assert gap == 2 * 3600 * 10**9 + 60 * 10**9  # two hours of readings missing
    assert len(ts) == 3 * 1440 - 120


def test_spikes_and_drift_match_their_labels():
    faults = [
        {"mode": "spike", "sensor": "vibration_rms", "start": "12h", "end": "2d", "rate_per_hour": 1},
        {"mode": "drift", "sensor": "motor_current", "start": "1d", "end": "3d", "magnitude": 2.0},
    ]
    run, clean = _run(pump(sensor_faults=faults)), _run(pump())
    _, vib = run.scalars[("P-1", "vibration_rms")]
    _, vib0 = clean.scalars[("P-1", "vibration_rms")]
    spike = next(lb for lb in run.labels if lb.fault_mode == "spike")
    jumps = vib - vib0
    assert np.count_nonzero(jumps) == spike.params["count"] > 10
    assert np.allclose(jumps[jumps != 0], spike.params["magnitude"])

    ts, cur = run.scalars[("P-1", "motor_current")]
    _, cur0 = clean.scalars[("P-1", "motor_current")]
    days = (ts - ts[0]) / 8.64e13
    offset = cur - cur0
    assert np.all(offset[days < 1] == 0)
    assert offset[days >= 1][-1] == pytest.approx(2.0 * 2, abs=0.05)  # 2 A per day for 2 days
    assert np.all(np.diff(offset[days >= 1]) > -0.02)  # rises steadily


def test_random_faults_are_drawn_from_the_seed_and_labelled():
    data = fleet_data(pump("P-1"), pump("P-2"), pump("P-3"), random_faults={"count": 4})
    fleet = Fleet.from_dict(data)
    a = simulate_offline(fleet, seed=3, start=START, duration=4 * DAY)
    b = simulate_offline(fleet, seed=3, start=START, duration=4 * DAY)
    drawn = [lb for lb in a.labels if lb.params.get("random")]
    assert len(drawn) == 4
    assert [lb.as_record() for lb in a.labels] == [lb.as_record() for lb in b.labels]
    for label in drawn:
        assert START + 0.1 * 4 * DAY <= label.onset <= START + 0.6 * 4 * DAY
        assert label.onset < label.failure <= START + 4 * DAY
    other = simulate_offline(fleet, seed=4, start=START, duration=4 * DAY)
    assert [lb.as_record() for lb in other.labels] != [lb.as_record() for lb in a.labels]
