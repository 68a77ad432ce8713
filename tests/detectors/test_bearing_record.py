"""A whole vibration record diagnosed from its blocks' averaged envelope spectra (`diagnose_record`).

Records from `simulators.bearing_records` at 12 kHz with the confounders of real machines: shaft
harmonics 1×–5× (also in the envelope), line frequency 50/60 Hz, slip, isolated knocks about once
a second, the impacts' resonance anywhere in 2–5 kHz. Seeds 200+ were not used while choosing the
defaults (those were chosen on the tuning seeds of ``bench/bearing_confusion.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from faultline.detectors import BEARING_MODES, diagnose_bearing, diagnose_record, record_blocks
from faultline.simulators.bearing_records import bearing_record, confounded_record, kinematic_frequencies

RATE = 12000.0


def record(seed: int, mode: str | None, shaft: float, resonance: float, seconds: float = 10.0) -> np.ndarray:
    rng = np.random.default_rng([seed, int(shaft), int(resonance)])
    return bearing_record(
        rng,
        mode,
        "6205",
        shaft,
        rate_hz=RATE,
        seconds=seconds,
        noise=0.25,
        slip=0.015,
        line_hz=60.0,
        resonance_hz=resonance,
        shaft_orders=5,
        spikes_per_s=1.0,
    )


CASES = [(200, 21.0, 2500.0), (201, 29.0, 4600.0)]


@pytest.mark.parametrize("seed,shaft,resonance", CASES)
def test_each_mode_is_named_from_one_second_blocks_averaged_over_the_record(seed, shaft, resonance):
    hz = kinematic_frequencies("6205", shaft)
    for mode in BEARING_MODES:
        per_block, whole = diagnose_record(record(seed, mode, shaft, resonance), RATE, hz, shaft)
        assert whole.named() == [mode], (mode, {k: float(v[0]) for k, v in whole.ratios.items()})
        assert len(per_block.mode) == 10


@pytest.mark.parametrize("seed,shaft,resonance", CASES)
def test_short_blocks_averaged_over_a_record_name_the_defect(seed, shaft, resonance):
    """1,024 samples (85 ms, 11.7 Hz lines): outer race, inner race and ball are named from the
    averaged spectra; the cage (FTF under four lines of 11.7 Hz) cannot be resolved and is not
    claimed: its ratio is NaN and no other mode is named in its place."""
    hz = kinematic_frequencies("6205", shaft)
    for mode in BEARING_MODES:
        x = record(seed, mode, shaft, resonance)
        per_block, whole = diagnose_record(x, RATE, hz, shaft, block=1024)
        assert len(per_block.mode) == len(x) // 1024
        if mode == "ftf":
            assert whole.named() == [None] and np.isnan(whole.ratios["ftf"][0])
            continue
        assert whole.named() == [mode], (mode, {k: float(v[0]) for k, v in whole.ratios.items()})
        assert set(per_block.named()) <= {mode, None}  # a block alone may miss it, never misname it


def test_healthy_records_with_confounders_are_not_flagged():
    for seed in range(210, 216):
        rng = np.random.default_rng(seed)
        shaft = float(rng.uniform(20.0, 30.0))
        x, _ = confounded_record(rng, None, "6205", shaft, RATE, 10.0, noise=float(rng.choice([0.25, 1.0])))
        hz = kinematic_frequencies("6205", shaft)
        for block in (None, 1024):
            per_block, whole = diagnose_record(x, RATE, hz, shaft, block=block)
            assert whole.named() == [None], (seed, block, {k: float(v[0]) for k, v in whole.ratios.items()})
            assert sum(m is not None for m in per_block.named()) <= 0.05 * len(per_block.mode) + 1


def test_the_band_is_shared_by_the_blocks_and_follows_the_defect_not_a_knock():
    """One knock ringing 1.5 kHz, far louder than the defect's 4.2 kHz impacts: one block's band
    follows the knock, the record's band (median kurtosis over the blocks) the defect."""
    shaft = 25.0
    x = record(220, "bpfo", shaft, 4200.0, seconds=5.0)
    t = np.arange(240) / RATE
    x[30000:30240] += 60 * np.exp(-t * 400) * np.sin(2 * np.pi * 1500 * t)
    hz = kinematic_frequencies("6205", shaft)
    per_block, whole = diagnose_record(x, RATE, hz, shaft)
    lo, hi = whole.band_hz[0]
    assert lo <= 4200 <= hi and whole.named() == ["bpfo"]
    lo2, hi2 = per_block.band_hz[2]
    assert lo2 <= 1500 <= hi2


def test_record_blocks_rejects_a_record_too_short_to_diagnose():
    with pytest.raises(ValueError, match="record of 10 samples"):
        record_blocks(np.zeros(10), RATE)
    assert diagnose_bearing(
        record_blocks(np.ones(20000), RATE), RATE, kinematic_frequencies("6205", 25.0), 25.0
    ).named() == [None]


def test_a_48_khz_record_is_read_in_one_second_blocks_too():
    """48 kHz (the faster rate of public test rigs): blocks of 48,000 samples, bands up to 24 kHz."""
    shaft = 1797 / 60
    hz = kinematic_frequencies("6205", shaft)
    named = []
    for mode in (None, "bpfi"):
        x, _ = confounded_record(np.random.default_rng([230, 48]), mode, "6205", shaft, 48000.0, 5.0, noise=0.5)
        per_block, whole = diagnose_record(x, 48000.0, hz, shaft)
        assert per_block.mode.shape == (5,)
        named += whole.named()
    assert named == [None, "bpfi"]
