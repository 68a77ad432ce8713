"""Seeded vibration records of a rolling-element bearing with one named defect, among confounders.

For testing bearing diagnosis without downloaded data. A record is what an accelerometer on the
housing of a machine at constant speed gives: shaft harmonics (1× and 2×, from unbalance and
misalignment), line frequency and its second harmonic (from the motor), the same at low level in
the envelope (the motor's magnetic pull modulates the structure at twice the line frequency, and
the shaft's 1× modulates it once a turn), a structural resonance excited by broadband flow noise
(energy in a band, but not impulsive), and sensor noise. A defect adds a train of impacts, each
ringing a higher resonance, at the defect frequency:

- outer race (``bpfo``): steady impacts (the defect sits in the load zone);
- inner race (``bpfi``): impacts whose strength swings once per shaft turn (the defect turns with
  the shaft through the load zone);
- ball (``bsf``): impacts at twice the ball-spin frequency (the defect strikes both races),
  modulated once per cage turn;
- cage (``ftf``): a knock once per cage turn.

The actual frequency differs from the kinematic one by a random slip of up to ``slip`` (rolling
elements skid), and each impact's timing jitters by a fraction of its period.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

__all__ = ["BEARINGS", "DEFECT_MODES", "bearing_record", "confounded_record", "kinematic_frequencies"]

#: Geometries (balls, ball diameter mm, pitch diameter mm): a 6205 deep-groove bearing (the common
#: test-rig bearing) and the 6309-class bearing of the shipped configuration.
BEARINGS = {"6205": (9, 7.94, 39.04), "6309": (9, 12.7, 58.5)}
DEFECT_MODES = ("bpfo", "bpfi", "bsf", "ftf")


def kinematic_frequencies(bearing: str, shaft_hz: float) -> dict[str, float]:
    """BPFO, BPFI, BSF, FTF (Hz) of a named bearing, contact angle 0 (Randall & Antoni 2011, eqs. 1–4)."""
    n, d, pitch = BEARINGS[bearing]
    r = d / pitch
    return {
        "bpfo": n / 2 * shaft_hz * (1 - r),
        "bpfi": n / 2 * shaft_hz * (1 + r),
        "bsf": pitch / (2 * d) * shaft_hz * (1 - r * r),
        "ftf": shaft_hz / 2 * (1 - r),
    }


def bearing_record(
    rng: np.random.Generator,
    mode: str | None,
    bearing: str = "6205",
    shaft_hz: float = 25.0,
    rate_hz: float = 12000.0,
    seconds: float = 10.0,
    noise: float = 1.0,
    impact: float = 1.0,
    line_hz: float = 50.0,
    slip: float = 0.015,
    resonance_hz: float | None = None,
    shaft_orders: int = 2,
    spikes_per_s: float = 0.0,
    intermittent: float = 0.0,
) -> np.ndarray:
    """One record (m/s²), shape ``(round(seconds * rate_hz),)``.

    Parameters
    ----------
    rng : numpy Generator
        All randomness (phases, slip, jitter, resonances, noise) comes from it.
    mode : {"bpfo", "bpfi", "bsf", "ftf"} or None
        The defect; None for a healthy bearing (the confounders only).
    noise : float
        Standard deviation of the broadband noise; the resonance noise scales with it.
    impact : float
        Peak of one impact's ringing before noise, for impacts at the BPFO rate; a defect that
        strikes less often strikes harder (peak × √(BPFO / its rate)), so that every mode puts the
        same vibration power into the resonance and the modes are equally hard to see.
    slip : float
        Largest relative difference between the actual and the kinematic defect frequency.
    resonance_hz : float, optional
        Frequency the impacts ring at; default: drawn between 2.8 and 4.2 kHz.
    shaft_orders : int
        Shaft harmonics in the signal (1×, 2× by default; up to 5× for a loose or misaligned
        machine), each also modulating the resonance a little (so they show in the envelope).
    spikes_per_s : float
        Isolated impacts at random times (a knock, a tool dropped, electrical noise), each ringing a
        random resonance as hard as 1–4 defect impacts: impulsive, but not periodic.
    intermittent : float
        Share of a defect's impacts that do not happen (a ball whose defect rolls in and out of
        contact: real ball faults are weak and intermittent).

    Examples
    --------
    >>> x = bearing_record(np.random.default_rng(0), "bpfo", seconds=1.0)
    >>> x.shape
    (12000,)
    """
    n = round(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    x = noise * rng.standard_normal(n)
    orders = [(1, 2.0), (2, 0.8)] + [(k, 1.6 / k) for k in range(3, shaft_orders + 1)]
    for order, amp in orders:
        x += amp * np.sin(2 * np.pi * order * shaft_hz * t + rng.uniform(0, 2 * np.pi))
    for order, amp in ((1, 0.5), (2, 0.3)):
        x += amp * np.sin(2 * np.pi * order * line_hz * t + rng.uniform(0, 2 * np.pi))
    # flow noise through a structural resonance, modulated a little at 1× and 2× line
    res_hz = rng.uniform(1200, 2500)
    b, a = signal.iirpeak(res_hz, Q=8, fs=rate_hz)
    flow = signal.lfilter(b, a, rng.standard_normal(n)) * noise * 3.0
    flow *= (
        1
        + 0.1 * np.sin(2 * np.pi * shaft_hz * t + rng.uniform(0, 2 * np.pi))
        + 0.05 * np.sin(2 * np.pi * 2 * line_hz * t + rng.uniform(0, 2 * np.pi))
    )
    for order in range(2, shaft_orders + 1):
        flow *= 1 + 0.05 * np.sin(2 * np.pi * order * shaft_hz * t + rng.uniform(0, 2 * np.pi))
    x += flow
    if spikes_per_s > 0:
        x += _spikes(rng, n, rate_hz, spikes_per_s, impact)
    if mode is None:
        return x
    freqs = kinematic_frequencies(bearing, shaft_hz)
    rate = {"bpfo": freqs["bpfo"], "bpfi": freqs["bpfi"], "bsf": 2 * freqs["bsf"], "ftf": freqs["ftf"]}[mode]
    impact = impact * np.sqrt(freqs["bpfo"] / rate)
    rate *= 1 + rng.uniform(-slip, slip)
    period = 1.0 / rate
    hits = np.arange(rng.uniform(0, period), seconds, period)
    hits = hits + rng.normal(0, 0.01 * period, len(hits))
    if mode == "bpfi":
        strength = 1 + 0.6 * np.cos(2 * np.pi * shaft_hz * hits)
    elif mode == "bsf":
        strength = 1 + 0.6 * np.cos(2 * np.pi * freqs["ftf"] * hits)
    else:
        strength = np.ones(len(hits))
    strength = strength * rng.uniform(0.8, 1.2, len(hits))
    if intermittent > 0:
        strength = strength * (rng.random(len(hits)) >= intermittent)
    pulses = np.zeros(n)
    at = np.clip(np.rint(hits * rate_hz).astype(np.int64), 0, n - 1)
    np.add.at(pulses, at, impact * strength)
    ring_hz = rng.uniform(2800, 4200) if resonance_hz is None else resonance_hz
    return x + signal.fftconvolve(pulses, _ring(ring_hz, rate_hz))[:n]


def _ring(ring_hz: float, rate_hz: float) -> np.ndarray:
    """One impact's ringing: a decaying sine of 4 % damping, 10 ms long."""
    ring_t = np.arange(int(0.01 * rate_hz)) / rate_hz
    return np.exp(-ring_t * 2 * np.pi * ring_hz * 0.04) * np.sin(2 * np.pi * ring_hz * ring_t)


def _spikes(rng: np.random.Generator, n: int, rate_hz: float, per_s: float, impact: float) -> np.ndarray:
    """Isolated impacts at Poisson times, each ringing its own resonance (1.5-5 kHz, below Nyquist)."""
    count = rng.poisson(per_s * n / rate_hz)
    out = np.zeros(n)
    for at in rng.integers(0, n, count):
        ring = _ring(rng.uniform(1500, min(5000, 0.45 * rate_hz)), rate_hz) * impact * rng.uniform(1, 4)
        out[at : at + len(ring)] += ring[: n - at]
    return out


def confounded_record(
    rng: np.random.Generator,
    mode: str | None,
    bearing: str = "6205",
    shaft_hz: float = 25.0,
    rate_hz: float = 12000.0,
    seconds: float = 10.0,
    noise: float = 0.5,
) -> tuple[np.ndarray, dict]:
    """A record with the properties that make real bearing data harder than `bearing_record`'s default.

    Drawn from ``rng``: the resonance the impacts ring (2–5 kHz), the line frequency (50 or 60 Hz),
    slip up to 2 %, and the fault's size (impact peak 0.6–1.4); always shaft harmonics 1×–5× (also
    in the envelope) and isolated knocks about once a second, on healthy records too. A ball defect
    is weaker (0.6× the size) and intermittent (a third of its impacts missing).

    Returns the record and the drawn parameters (for reports).

    >>> x, params = confounded_record(np.random.default_rng(1), "bsf", seconds=1.0)
    >>> x.shape, sorted(params)
    ((12000,), ['impact', 'line_hz', 'resonance_hz', 'slip'])
    """
    params = {
        "resonance_hz": float(rng.uniform(2000, min(5000, 0.42 * rate_hz))),
        "line_hz": float(rng.choice([50.0, 60.0])),
        "slip": float(rng.uniform(0.0, 0.02)),
        "impact": float(rng.uniform(0.6, 1.4)) * (0.6 if mode == "bsf" else 1.0),
    }
    x = bearing_record(
        rng,
        mode,
        bearing,
        shaft_hz,
        rate_hz=rate_hz,
        seconds=seconds,
        noise=noise,
        line_hz=params["line_hz"],
        slip=params["slip"],
        impact=params["impact"],
        resonance_hz=params["resonance_hz"],
        shaft_orders=5,
        spikes_per_s=1.0,
        intermittent=0.33 if mode == "bsf" else 0.0,
    )
    return x, params
