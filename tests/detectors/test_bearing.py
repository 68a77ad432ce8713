"""Bearing diagnosis names the defect: seeded records of each mode among confounders.

Records come from `simulators.bearing_records`: a 6205 and the 6309-class bearing of the shipped
configuration, at 20, 25 and 30 Hz, with shaft 1× and 2×, line frequency (50 or 60 Hz) and its 2×,
a structural resonance excited by flow noise, envelope modulation at 1× and 2× line, and up to 2 %
slip. The thresholds of `detectors.waveform` were set looking only at ``TUNING_SEEDS``; the
assertions run on ``EVALUATION_SEEDS``, which were not looked at while tuning.

The figures for the report come from running this file (a few minutes on one core)::

    .venv/bin/python tests/detectors/test_bearing.py            # evaluation seeds 100-119
    .venv/bin/python tests/detectors/test_bearing.py tuning     # tuning seeds 0-9
"""

from __future__ import annotations

import itertools
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import yaml

from faultline.detectors import BEARING_MODES, DetectorsConfig, Engine, diagnose_bearing
from faultline.simulators.bearing_records import BEARINGS, bearing_record, kinematic_frequencies

TUNING_SEEDS = range(10)
EVALUATION_SEEDS = range(100, 120)
SHAFTS = (20.0, 25.0, 30.0)
RATE = 12000.0
MODES = (None, *BEARING_MODES)
SAMPLE = Path(__file__).resolve().parents[2] / "config" / "detectors.yaml"


def diagnose_grid(seeds, seconds: float, noises, slip: float = 0.02) -> list[tuple[tuple, str | None, str | None]]:
    """``[(case, expected mode, named mode)]`` over every seed, bearing, speed, noise and mode.

    One record per case; a case's generator is seeded from the case itself, so a record does not
    depend on which others are run.
    """
    out = []
    for seed, bearing, shaft, noise in itertools.product(seeds, BEARINGS, SHAFTS, noises):
        records, cases = [], []
        for mode in MODES:
            rng = np.random.default_rng(
                [seed, int(shaft), int(noise * 100), list(BEARINGS).index(bearing), MODES.index(mode)]
            )
            line = float(rng.choice([50.0, 60.0]))
            records.append(
                bearing_record(
                    rng, mode, bearing, shaft, rate_hz=RATE, seconds=seconds, noise=noise, line_hz=line, slip=slip
                )
            )
            cases.append((seed, bearing, shaft, noise, line))
        named = diagnose_bearing(np.stack(records), RATE, kinematic_frequencies(bearing, shaft), shaft).named()
        out += [(case, mode, got) for case, mode, got in zip(cases, MODES, named)]
    return out


def accuracy(results) -> dict[str, tuple[int, int]]:
    """Per mode (``healthy`` for no defect): (records named correctly, records)."""
    table: dict[str, list[int]] = {}
    for _, expected, got in results:
        row = table.setdefault(expected or "healthy", [0, 0])
        row[0] += expected == got
        row[1] += 1
    return {k: (a, b) for k, (a, b) in table.items()}


def misnamed(results) -> list:
    """Records named as a mode they do not have (healthy ones included): the costly mistake."""
    return [r for r in results if r[2] is not None and r[2] != r[1]]


def test_each_mode_is_named_in_ten_second_records():
    results = diagnose_grid(EVALUATION_SEEDS[:3], seconds=10.0, noises=(0.25, 0.5))
    assert misnamed(results) == []
    for mode, (right, total) in accuracy(results).items():
        assert right >= 0.95 * total, (mode, right, total)


def test_a_healthy_bearing_among_confounders_gives_no_finding_even_in_noisy_or_short_records():
    results = [r for r in diagnose_grid(EVALUATION_SEEDS[3:6], seconds=10.0, noises=(0.25, 1.0)) if r[1] is None]
    assert [r for r in results if r[2] is not None] == []
    assert len(results) == 3 * 2 * 3 * 2


def test_a_weak_defect_is_missed_rather_than_misnamed():
    results = [r for r in diagnose_grid(EVALUATION_SEEDS[6:8], seconds=10.0, noises=(1.0,)) if r[1] is not None]
    assert misnamed(results) == []
    assert sum(got == mode for _, mode, got in results) >= 0.5 * len(results)  # and most are still seen


def test_one_second_records_are_named_with_coarser_lines():
    results = diagnose_grid(EVALUATION_SEEDS[8:10], seconds=1.0, noises=(0.25,))
    assert len(misnamed(results)) <= 1
    table = accuracy(results)
    assert sum(a for a, _ in table.values()) >= 0.9 * sum(b for _, b in table.values()), table


def test_slip_beyond_the_tolerance_is_not_claimed_as_a_defect_line():
    rng = np.random.default_rng(EVALUATION_SEEDS[10])
    freqs = kinematic_frequencies("6205", 25.0)
    x = bearing_record(rng, "bpfo", "6205", 25.0, rate_hz=RATE, noise=0.25, slip=0.0)
    d = diagnose_bearing(x[None], RATE, freqs, 25.0)
    off = diagnose_bearing(x[None], RATE, {k: 1.08 * f for k, f in freqs.items()}, 25.0)  # geometry 8 % off
    assert d.named() == ["bpfo"] and off.named() == [None]


def test_a_lone_tone_at_a_defect_frequency_is_not_a_defect():
    """A strong modulation exactly at BPFO with nothing at its harmonics (an electrical or
    neighbouring-machine tone) is not an impact train: no finding. Impacts at the same
    frequency are."""
    rng = np.random.default_rng(EVALUATION_SEEDS[11])
    freqs = kinematic_frequencies("6309", 25.0)
    t = np.arange(int(10 * RATE)) / RATE
    x = bearing_record(rng, None, "6309", 25.0, rate_hz=RATE, noise=0.25)
    hiss = rng.standard_normal(len(t)) * (1 + 0.2 * np.sin(2 * np.pi * freqs["bpfo"] * t))
    toned = x + np.convolve(hiss, np.hanning(9), "same") * np.sin(2 * np.pi * 3600 * t)  # a band near 3.6 kHz
    impacts = bearing_record(
        np.random.default_rng(EVALUATION_SEEDS[11]), "bpfo", "6309", 25.0, rate_hz=RATE, noise=0.25
    )
    d = diagnose_bearing(np.stack([toned, impacts]), RATE, freqs, 25.0)
    assert d.ratios["bpfo"][0] > 1.5  # the tone is there ...
    assert d.named() == [None, "bpfo"]  # ... but only the impacts are a defect


def _engine(asset: dict) -> Engine:
    data = yaml.safe_load(SAMPLE.read_text())["detectors"]
    data["assets"]["P-1"] = {"class": "pump", "iso_group": "2-rigid", "site": "plant-a", **asset}
    return Engine(DetectorsConfig.model_validate(data), config_version="test")


def test_the_simulated_fleet_inner_race_fault_gives_one_named_finding_with_the_default_config():
    """The fleet simulator's own waveform blocks (2,048 samples at 10,240 Hz, 5 Hz lines), every
    minute: with the shipped configuration (band by spectral kurtosis), one finding, inner race."""
    from faultline.simulators import Fleet, simulate_offline

    bearing = {"n_balls": 9, "ball_diameter_mm": 12.7, "pitch_diameter_mm": 58.5, "contact_angle_deg": 0}
    findings = {}
    for fault in ("bearing_inner_race", None):
        fleet = {
            "seed": 23,
            "broker": "mqtt://127.0.0.1:1",
            "waveform": {"every": "1m"},
            "assets": [
                {
                    "id": "P-1",
                    "site": "plant-a",
                    "type": "centrifugal_pump",
                    "running_speed_hz": 24.6,
                    "iso_group": 2,
                    "criticality": "A",
                    "bearing": bearing,
                    "rated_current_a": 62,
                    "sensors": ["accel"],
                    "payload": "single",
                    "faults": [{"mode": fault, "onset": "2h", "failure": "6h", "growth": "exponential", "rate": 4}]
                    if fault
                    else [],
                }
            ],
        }
        run = simulate_offline(
            Fleet.from_dict(fleet), start=datetime(2026, 11, 20, tzinfo=UTC), duration=timedelta(hours=5)
        )
        ((t0, rate, blocks),) = run.waveforms.values()
        engine = _engine({"running_speed_hz": 24.6, "bearing": bearing})
        found = []
        for part in np.array_split(np.arange(len(blocks)), 5):
            found += engine.process_blocks("P-1", t0[part], rate, blocks[part]).findings
        findings[fault] = [f for f in found if f.sensor == "accel.bearing_defect"]
    opened = [f for f in findings["bearing_inner_race"] if f.status == "opened"]
    assert [f.fault_mode for f in opened] == ["bearing_inner_race"]
    assert {f.fault_mode for f in findings["bearing_inner_race"]} == {"bearing_inner_race"}  # escalations too
    assert set(opened[0].evidence["peak_to_floor"]) >= {"bpfo", "bpfi", "bsf"}
    assert findings[None] == []


def test_an_alert_keeps_its_mode_through_a_restart_until_it_closes():
    """Hourly blocks of 1 s: healthy, then a ball defect, then healthy again; the engine is saved and
    resumed while the alert is open. Opened and closed findings both name the ball."""
    import json

    asset = {"running_speed_hz": 25.0, "bearing": {"n_balls": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04}}
    rng = np.random.default_rng(EVALUATION_SEEDS[12])
    modes = [None] * 4 + ["bsf"] * 6 + [None] * 9
    blocks = np.stack([bearing_record(rng, m, "6205", 25.0, rate_hz=RATE, seconds=1.0, noise=0.25) for m in modes])
    t0 = np.arange(len(blocks)) * 3600 * 10**9  # hourly: the rule clears after 6 h below its level
    engine = _engine(asset)
    found = engine.process_blocks("P-1", t0[:7], RATE, blocks[:7]).findings
    engine = Engine.from_dict(engine.config, json.loads(json.dumps(engine.to_dict())), config_version="test")
    found += engine.process_blocks("P-1", t0[7:], RATE, blocks[7:]).findings
    bearing = [(f.status, f.fault_mode) for f in found if f.sensor == "accel.bearing_defect"]
    assert bearing[0] == ("opened", "bearing_ball") and bearing[-1] == ("closed", "bearing_ball")
    assert {m for _, m in bearing} == {"bearing_ball"}


def main(argv: list[str]) -> None:
    seeds = TUNING_SEEDS if argv[:1] == ["tuning"] else EVALUATION_SEEDS
    print(f"seeds {seeds.start}-{seeds.stop - 1}; bearings {', '.join(BEARINGS)}; shaft {SHAFTS} Hz; slip <= 2 %")
    for seconds, noises in ((10.0, (0.25, 0.5, 1.0)), (1.0, (0.25, 0.5))):
        for noise in noises:
            results = diagnose_grid(seeds, seconds, (noise,))
            table = accuracy(results)
            cells = "  ".join(f"{m} {a}/{b} ({a / b:.0%})" for m, (a, b) in table.items())
            print(f"{seconds:>4g} s, noise {noise:<4g}: {cells}  misnamed {len(misnamed(results))}")


if __name__ == "__main__":
    main(sys.argv[1:])
