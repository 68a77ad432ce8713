"""Signal generation: operating regime, vibration, bearing temperature, motor current, waveforms.

Everything is computed for a whole run at once, vectorised over time: a per-sample Python loop
would take minutes for a simulated week. The model is deliberately simple but has the shape a
vibration analyst expects:

* **Vibration velocity** (mm/s RMS) is the root-sum-square of spectral components at orders of
  running speed (0.5×, 1× … 8×, vane/blade pass) plus a broadband floor. A healthy machine sits in
  ISO 20816-3 zone A; a fault at severity 1 reaches the zone C/D boundary (ISO 20816-3:2022,
  tables A.1 and A.2).
* **Bearing temperature** follows ambient plus load and friction heat through a first-order thermal
  lag ``T' = (T_ss − T) / τ``.
* **Motor current** follows load, with inrush at each start.
* **Acceleration waveforms** sum the same orders (converted from velocity, ``a = 2πf·v``), bearing
  defect impacts at BPFO/BPFI exciting a structural resonance (a two-pole resonator), broadband
  resonance excitation and sensor noise. An outer-race defect's impacts are equally strong every
  pass; an inner-race defect's are modulated at 1× as it passes through the load zone.

Defect severities ``s`` in [0, 1] drive the components. For bearing defects the impacts grow with
``s`` (kurtosis rises first), the velocity RMS with ``s³`` (later), friction heat only above
``s = 0.5`` (late).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from faultline.simulators.fleet import Asset, HardMode, Waveform

__all__ = [
    "ORDERS",
    "ISO_20816_ZONES",
    "TYPE_PHYSICS",
    "Components",
    "first_order_lag",
    "operating_regime",
    "hard_regime",
    "weather",
    "ambient_temperature",
    "components",
    "scalar_readings",
    "hard_scalar_readings",
    "quantise",
    "waveform_blocks",
]

NS = 1_000_000_000

#: ISO 20816-3:2022 zone boundaries A/B, B/C, C/D in mm/s RMS (10–1000 Hz), by machine group and
#: foundation (group 1: above 300 kW; group 2: 15–300 kW).
ISO_20816_ZONES = {
    (1, "rigid"): (2.3, 4.5, 7.1),
    (1, "flexible"): (3.5, 7.1, 11.0),
    (2, "rigid"): (1.4, 2.8, 4.5),
    (2, "flexible"): (2.3, 4.5, 7.1),
}

#: Per machine type: full-load bearing temperature rise over ambient (°C), thermal time constant of
#: the bearing housing (s), no-load current as a share of rated, structural resonance (Hz), and the
#: vane / blade count whose pass frequency shows in the spectrum (0 = none).
TYPE_PHYSICS = {
    "centrifugal_pump": {
        "temp_rise_c": 28.0,
        "thermal_tau_s": 2400.0,
        "no_load_current": 0.35,
        "resonance_hz": 3200.0,
        "pass_count": 6,
    },
    "electric_motor": {
        "temp_rise_c": 35.0,
        "thermal_tau_s": 1800.0,
        "no_load_current": 0.30,
        "resonance_hz": 2800.0,
        "pass_count": 0,
    },
    "fan": {
        "temp_rise_c": 20.0,
        "thermal_tau_s": 1500.0,
        "no_load_current": 0.25,
        "resonance_hz": 2100.0,
        "pass_count": 8,
    },
}

#: Orders of running speed carried as separate spectral components; the last column is vane/blade
#: pass (its order is the type's ``pass_count``).
ORDERS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
_PASS = len(ORDERS)


def first_order_lag(x: np.ndarray, tau_s: float, dt_s: float, y0: float | None = None) -> np.ndarray:
    """First-order lag ``y[n] = y[n−1] + α·(x[n] − y[n−1])`` with ``α = 1 − exp(−dt/τ)``.

    Parameters
    ----------
    x : ndarray of float64, shape (n,)
        Input sampled every ``dt_s`` seconds.
    tau_s : float
        Time constant in seconds: after a step the output has covered 63.2 % of it after ``tau_s``.
    y0 : float, optional
        Initial output; defaults to ``x[0]`` (the system starts in steady state).
    """
    if len(x) == 0:
        return x.astype(np.float64)
    alpha = -np.expm1(-dt_s / tau_s) if tau_s > 0 else 1.0
    start = x[0] if y0 is None else y0
    y, _ = lfilter([alpha], [1.0, alpha - 1.0], x, zi=[(1.0 - alpha) * start])
    return y


def _duty_events(asset: Asset, t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Load level the operator asks for and whether the machine runs (1/0), before any lag, shape (n,)."""
    duty = asset.duty
    n = len(t)
    total = (t[-1] if n else 0.0) + 1.0
    # Events are drawn one day at a time so that a shorter run is exactly the start of a longer one.
    dwell = duty.mean_dwell.total_seconds()
    daily_changes: list[np.ndarray] = []
    daily_levels: list[np.ndarray] = []
    daily_stop_at: list[np.ndarray] = []
    daily_stop_len: list[np.ndarray] = []
    for day in range(int(total // 86400) + 1):
        n_changes = int(rng.poisson(86400 / dwell))
        daily_changes.append(np.sort(rng.uniform(day * 86400, (day + 1) * 86400, n_changes)))
        daily_levels.append(np.asarray(duty.load_levels)[rng.integers(len(duty.load_levels), size=n_changes)])
        n_stops = int(rng.poisson(duty.stops_per_day))
        daily_stop_at.append(rng.uniform(day * 86400, (day + 1) * 86400, n_stops))
        daily_stop_len.append(rng.exponential(duty.mean_stop.total_seconds(), n_stops))
    changes, stop_at = np.concatenate(daily_changes), np.concatenate(daily_stop_at)
    stop_len = np.concatenate(daily_stop_len)
    levels = np.concatenate([[duty.load_levels[-1]], *daily_levels])
    load_step = levels[np.searchsorted(changes, t, side="right")]

    edges = np.zeros(n + 1)
    np.add.at(edges, np.searchsorted(t, stop_at), 1)
    np.add.at(edges, np.searchsorted(t, stop_at + stop_len), -1)
    running = (np.cumsum(edges)[:n] <= 0).astype(np.float64)
    return load_step, running


def _lagged_regime(
    t: np.ndarray,
    dt: float,
    running: np.ndarray,
    speed_target: np.ndarray,
    load_target: np.ndarray,
    speed_tau_s: float = 4.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    speed = first_order_lag(speed_target, speed_tau_s, dt)
    load = first_order_lag(load_target, 90.0, dt)
    n = len(t)
    started = np.flatnonzero(np.diff(running, prepend=1.0) > 0)
    last_start = np.full(n, -1e12)
    last_start[started] = t[started]
    since_start = t - np.maximum.accumulate(last_start)
    return speed, load, since_start


def operating_regime(
    asset: Asset, elapsed_ns: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load changes and stops over the run.

    Returns
    -------
    speed : ndarray of float64, shape (n,)
        Shaft speed as a share of running speed (0 when stopped; ramps in a few seconds).
    load : ndarray of float64, shape (n,)
        Load as a share of rated (0 when stopped).
    since_start_s : ndarray of float64, shape (n,)
        Seconds since the machine last started (large when it has run since the beginning).
    """
    n = len(elapsed_ns)
    t = elapsed_ns / NS
    load_step, running = _duty_events(asset, t, rng)
    dt = (elapsed_ns[1] - elapsed_ns[0]) / NS if n > 1 else 1.0
    return _lagged_regime(t, dt, running, running, load_step * running)


def hard_regime(
    asset: Asset,
    elapsed_ns: np.ndarray,
    ts_ns: np.ndarray,
    hard: HardMode,
    rng: np.random.Generator,
    hard_rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`operating_regime` with the operating-point changes of a real plant (hard mode), none a fault.

    On top of the duty cycle's load steps and stops: load follows a daily cycle (lowest around
    02:00 local to the timestamps, highest around 14:00) and drops at weekends; some nights the
    machine is switched off (22:00–05:00, give or take an hour); pumps and fans on a
    variable-speed drive move between speed set-points, their load following the affinity laws
    (power ∝ speed³) and the drive ramping over about 20 s. Speed, vibration, current and
    temperature follow through the same lags as in easy mode. ``rng`` is the easy regime's stream
    (the duty events are the same draws); ``hard_rng`` draws what hard mode adds.
    """
    n = len(elapsed_ns)
    t = elapsed_ns / NS
    load_step, running = _duty_events(asset, t, rng)
    hour = (ts_ns // NS % 86400) / 3600.0
    weekday = (ts_ns // NS // 86400 + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    day_shape = 0.5 * (1 - np.cos(2 * np.pi * (hour - 2.0) / 24.0))
    factor = (1 - hard.daily_load_swing) + hard.daily_load_swing * day_shape
    factor = np.where(weekday >= 5, factor * hard.weekend_load, factor)

    total = (t[-1] if n else 0.0) + 1.0
    night_stops, set_at, set_to = [], [], []
    dwell = hard.speed_dwell.total_seconds()
    for day in range(int(total // 86400) + 1):
        # one draw of each kind per day, whatever is used, so a shorter run is the start of a longer one
        off = hard_rng.uniform() < hard.night_stop_share
        begin, length = hard_rng.normal(22.0, 0.7), hard_rng.uniform(5.0, 8.0)
        if off:
            night_stops.append((day * 86400 + begin * 3600, day * 86400 + (begin + length) * 3600))
        k = int(hard_rng.poisson(86400 / dwell))
        set_at.append(np.sort(hard_rng.uniform(day * 86400, (day + 1) * 86400, k)))
        set_to.append(np.asarray(hard.speed_levels)[hard_rng.integers(len(hard.speed_levels), size=k)])
    for lo, hi in night_stops:
        running[(t >= lo) & (t < hi)] = 0.0
    if asset.type in hard.variable_speed_types:
        points = np.concatenate([[hard.speed_levels[-1]], *set_to])
        setpoint = points[np.searchsorted(np.concatenate(set_at), t, side="right")]
    else:
        setpoint = np.ones(n)
    dt = (elapsed_ns[1] - elapsed_ns[0]) / NS if n > 1 else 1.0
    load_target = np.minimum(load_step * factor * setpoint**3, 1.2) * running
    return _lagged_regime(t, dt, running, setpoint * running, load_target, speed_tau_s=20.0)


def weather(n: int, dt_s: float, std_c: float, rng: np.random.Generator) -> np.ndarray:
    """A slow AR(1) weather term with a two-day memory and standard deviation ``std_c``, shape (n,).

    Drawn hourly (a shorter run is the start of a longer one) and interpolated to the grid.
    """
    hours = int(np.ceil(n * dt_s / 3600.0)) + 2
    phi = np.exp(-1.0 / 48.0)
    initial = std_c * rng.standard_normal()  # drawn first: the hourly shocks are then a prefix of a longer run's
    shocks = rng.standard_normal(hours) * std_c * np.sqrt(1 - phi * phi)
    hourly, _ = lfilter([1.0], [1.0, -phi], shocks, zi=[phi * initial])
    return np.interp(np.arange(n) * dt_s / 3600.0, np.arange(hours), hourly)


def ambient_temperature(ts_ns: np.ndarray, mean_c: float, swing_c: float) -> np.ndarray:
    """Ambient air temperature with a daily cycle peaking at 15:00 UTC, shape (n,)."""
    hour = (ts_ns // NS % 86400) / 3600.0
    return mean_c + swing_c / 2 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)


def _at(x: np.ndarray | float, rows: np.ndarray) -> np.ndarray | float:
    return x[rows] if isinstance(x, np.ndarray) else x


@dataclass
class Components:
    """Per-sample physical state of one asset on the scalar grid (n samples).

    Attributes
    ----------
    speed_hz : ndarray, shape (n,)
        Shaft speed.
    velocity_rms : ndarray, shape (n,)
        Overall radial velocity RMS (mm/s): the root-sum-square of every order and the broadband.
    broadband : ndarray, shape (n,)
        Broadband velocity RMS (mm/s) in 10–1000 Hz (flow, bearing roughness).
    axial : ndarray, shape (n,)
        Axial velocity RMS (mm/s).
    outer_impact, inner_impact : ndarray, shape (n,)
        Peak acceleration (m/s²) of one bearing-defect impact at the outer / inner race.
    resonance_noise : ndarray, shape (n,)
        RMS (m/s²) of the broadband excitation of the structural resonance (friction, flow).
    erratic : ndarray of shape (n,), or float
        Relative scatter of the velocity RMS reading (looseness makes it jump).
    temperature_ss : ndarray, shape (n,)
        Steady-state bearing temperature before the thermal lag (°C).
    current : ndarray, shape (n,)
        Motor current before sensor noise (A).
    order_levels : list of (ndarray or float)
        Velocity RMS (mm/s) at each order of `ORDERS`, then vane/blade pass, before the speed
        factor; a float where it is constant. Kept per order (not as an (n, orders) matrix) because
        only waveform rows need the orders separately: `orders_at`.
    speed_factor : ndarray, shape (n,)
        Vibration scales with speed squared; 0 when stopped.
    """

    speed_hz: np.ndarray
    velocity_rms: np.ndarray
    broadband: np.ndarray
    axial: np.ndarray
    outer_impact: np.ndarray
    inner_impact: np.ndarray
    resonance_noise: np.ndarray
    erratic: np.ndarray | float
    temperature_ss: np.ndarray
    current: np.ndarray
    order_levels: list
    speed_factor: np.ndarray

    def orders_at(self, rows: np.ndarray) -> np.ndarray:
        """Velocity RMS (mm/s) per order at grid rows, shape (len(rows), len(ORDERS) + 1)."""
        factor = self.speed_factor[rows]
        return np.stack(
            [np.broadcast_to(_at(level, rows) * factor, factor.shape) for level in self.order_levels], axis=1
        )


def components(
    asset: Asset,
    speed: np.ndarray,
    load: np.ndarray,
    since_start_s: np.ndarray,
    ambient_c: np.ndarray,
    severity: dict[str, np.ndarray],
) -> Components:
    """The physical state of an asset given its regime and fault severities.

    Parameters
    ----------
    speed, load, since_start_s : ndarray, shape (n,)
        From `operating_regime`.
    ambient_c : ndarray, shape (n,)
    severity : dict of str to ndarray of shape (n,)
        Severity in [0, 1] per equipment fault mode present (missing modes are 0).
    """
    kind = TYPE_PHYSICS[asset.type]
    zone_ab, _, zone_cd = ISO_20816_ZONES[(asset.iso_group, asset.foundation)]
    base = 0.6 * zone_ab
    # absent faults stay the float 0.0, so a healthy asset costs no full-length arrays for them
    s = {
        mode: severity.get(mode, 0.0)
        for mode in (
            "imbalance",
            "misalignment",
            "bearing_outer_race",
            "bearing_inner_race",
            "lubrication_loss",
            "looseness",
        )
    }
    bearing = np.maximum(s["bearing_outer_race"], s["bearing_inner_race"])
    flow = 0.6 + 0.4 * load

    healthy = {0.5: 0.0, 1.0: 0.65, 2.0: 0.35, 3.0: 0.2, 4.0: 0.08}
    levels: list = [base * healthy.get(order, 0.03) for order in ORDERS]
    levels.append(base * 0.3 * flow if kind["pass_count"] else 0.0)
    levels[1] = levels[1] + zone_cd * (0.95 * s["imbalance"] + 0.3 * s["misalignment"])
    levels[2] = levels[2] + zone_cd * 0.8 * s["misalignment"]
    levels[0] = levels[0] + zone_cd * 0.25 * s["looseness"]
    for j, order in enumerate(ORDERS[1:], start=1):
        levels[j] = levels[j] + zone_cd * 0.3 / np.sqrt(order) * s["looseness"]
    broadband_sq = (
        (base * 0.55 * flow) ** 2 + (zone_cd * 0.8 * bearing**3) ** 2 + (zone_cd * 0.25 * s["lubrication_loss"]) ** 2
    )
    total_sq = broadband_sq + sum(level * level for level in levels)
    # velocity scales with speed squared at a given unbalance; a stopped machine shows nothing
    factor = speed * speed

    impact = 60.0 * speed
    friction_c = (25.0 * s["lubrication_loss"] + 12.0 * np.clip((bearing - 0.5) / 0.5, 0, 1) ** 2) * speed
    temperature_ss = ambient_c + kind["temp_rise_c"] * (0.25 + 0.75 * load * load) * speed + friction_c

    no_load = kind["no_load_current"]
    drag = 1 + 0.04 * s["misalignment"] + 0.03 * bearing**2 + 0.05 * s["lubrication_loss"]
    inrush = 5.0 * np.exp(-np.maximum(since_start_s, 0) / 2.0) * (speed > 0.05)
    current = asset.rated_current_a * ((no_load + (1 - no_load) * load) * speed * drag + inrush)

    return Components(
        speed_hz=asset.running_speed_hz * speed,
        velocity_rms=np.sqrt(total_sq) * factor,
        broadband=np.sqrt(broadband_sq) * factor,
        axial=np.hypot(0.5 * base, zone_cd * 0.9 * s["misalignment"]) * factor,
        outer_impact=impact * s["bearing_outer_race"],
        inner_impact=impact * s["bearing_inner_race"],
        resonance_noise=(0.25 + 1.5 * s["lubrication_loss"] + 0.3 * bearing) * speed,
        erratic=0.03 + 0.25 * s["looseness"],
        temperature_ss=temperature_ss,
        current=current,
        order_levels=levels,
        speed_factor=factor,
    )


def scalar_readings(
    asset: Asset, comp: Components, dt_s: float, rng: np.random.Generator, thermal_tau_s: float | None = None
) -> dict[str, np.ndarray]:
    """What each scalar sensor reads (with sensor noise and resolution), each shape (n,).

    The noise draws do not depend on faults, so runs with and without a fault share them.
    """
    n = len(comp.speed_hz)
    noise = rng.standard_normal((n, 4)).T  # time-major, so a shorter run draws a prefix of a longer one's
    tau = thermal_tau_s or TYPE_PHYSICS[asset.type]["thermal_tau_s"]
    values = {
        "vibration_rms": np.round(
            np.maximum(np.hypot(comp.velocity_rms, 0.02) * (1 + comp.erratic * noise[0]), 0.0), 3
        ),
        "vibration_axial_rms": np.round(np.maximum(np.hypot(comp.axial, 0.02) * (1 + 0.03 * noise[1]), 0.0), 3),
        "bearing_temp": np.round(first_order_lag(comp.temperature_ss, tau, dt_s) + 0.1 * noise[2], 2),
        "motor_current": np.round(np.maximum(comp.current + 0.005 * asset.rated_current_a * noise[3], 0.0), 2),
    }
    return {name: values[name] for name in asset.scalar_sensors}


def hard_scalar_readings(
    asset: Asset,
    comp: Components,
    dt_s: float,
    hard: HardMode,
    rng: np.random.Generator,
    glitch_rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """What each scalar sensor reads in hard mode, before quantisation (`quantise`), each shape (n,).

    The noise is Student-t with ``hard.noise_df`` degrees of freedom scaled to the easy mode's
    standard deviation (heavy tails: a reading several sigma out is not rare), except the bearing
    temperature, whose transmitter is quiet (``hard.temp_noise_c``) so that its resolution steps
    show. Isolated single-sample glitches (``hard.glitches_per_day`` per sensor, drawn one day at a
    time) are not labelled: one bad sample is not worth a work order, and an alert rule should ride
    through it.
    """
    n = len(comp.speed_hz)
    scale = np.sqrt((hard.noise_df - 2) / hard.noise_df)  # unit variance
    noise = (rng.standard_t(hard.noise_df, (n, 4)) * scale).T
    tau = TYPE_PHYSICS[asset.type]["thermal_tau_s"]
    values = {
        "vibration_rms": np.maximum(np.hypot(comp.velocity_rms, 0.02) * (1 + comp.erratic * noise[0]), 0.0),
        "vibration_axial_rms": np.maximum(np.hypot(comp.axial, 0.02) * (1 + 0.03 * noise[1]), 0.0),
        "bearing_temp": first_order_lag(comp.temperature_ss, tau, dt_s) + hard.temp_noise_c * noise[2],
        "motor_current": np.maximum(comp.current + 0.005 * asset.rated_current_a * noise[3], 0.0),
    }
    days = int(np.ceil(n * dt_s / 86400)) if n else 0
    # day by day, every sensor within a day: a shorter run's glitches are the first of a longer run's
    for day in range(days):
        for name in ("vibration_rms", "vibration_axial_rms", "bearing_temp", "motor_current"):
            k = int(glitch_rng.poisson(hard.glitches_per_day))
            at = glitch_rng.uniform(day * 86400, (day + 1) * 86400, k)
            size = glitch_rng.uniform(1.5, 4.0, k)
            to_zero = glitch_rng.uniform(size=k) < 0.3
            rows = (at / dt_s).astype(np.int64)
            ok = rows < n
            rows, size, to_zero = rows[ok], size[ok], to_zero[ok]
            v = values[name]
            if name == "bearing_temp":
                # an RTD glitch reads several degrees off (a contact, a noisy loop), either way
                v[rows] += np.where(to_zero, -1.0, 1.0) * 5.0 * size
            else:
                v[rows] = np.where(to_zero, 0.0, v[rows] * size)
    return {name: values[name] for name in asset.scalar_sensors}


def quantise(values: np.ndarray, resolution: float) -> np.ndarray:
    """Round readings to the sensor's resolution (NaN stays NaN; resolution 0 leaves them).

    >>> quantise(np.array([21.449, 21.45001, np.nan]), 0.1).tolist()
    [21.4, 21.5, nan]
    """
    if resolution <= 0:
        return values
    # the second round removes the binary residue of k·0.1, so a CSV shows 21.4, not 21.400000000000002
    return np.round(np.round(values / resolution) * resolution, 9)


def _resonator(resonance_hz: float, rate_hz: float, damping: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Two-pole resonator whose impulse response peaks near 1, ringing at ``resonance_hz``."""
    theta = 2 * np.pi * resonance_hz / rate_hz
    r = np.exp(-damping * theta)
    return np.array([np.sin(theta)]), np.array([1.0, -2 * r * np.cos(theta), r * r])


# Blocks per vectorised step. Every step draws random numbers for a whole chunk even when fewer
# blocks are left, so a shorter run's waveforms are exactly the start of a longer run's.
_CHUNK = 256


def _impact_train(
    rate_hz: float,
    n_samples: int,
    defect_hz: np.ndarray,
    fastest_hz: float,
    amplitude: np.ndarray,
    shaft_hz: np.ndarray | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Impulses at a defect frequency with 1 % interval jitter (rolling elements slip), shape (B, N).

    With ``shaft_hz`` given (inner race) each impact is scaled by ``(1 + cos 2π f_r t) / 2``: the
    defect turns with the shaft through the load zone. Random draws are always made for `_CHUNK`
    blocks and ``fastest_hz``, so the stream does not depend on how many blocks a run has.
    """
    blocks = len(defect_hz)
    k = int(np.ceil(n_samples / rate_hz * fastest_hz * 1.05)) + 2
    period = 1.0 / np.maximum(defect_hz, 1e-3)
    jitter = rng.standard_normal((_CHUNK, k))[:blocks]
    offset = rng.uniform(0, 1, _CHUNK)[:blocks]
    spread = rng.standard_normal((_CHUNK, k))[:blocks]
    phase = rng.uniform(0, 2 * np.pi, _CHUNK)[:blocks, None]
    intervals = period[:, None] * (1.0 + 0.01 * jitter)
    times = offset[:, None] * period[:, None] + np.cumsum(intervals, axis=1) - intervals[:, :1]
    heights = amplitude[:, None] * (1.0 + 0.1 * spread)
    if shaft_hz is not None:
        heights = heights * 0.5 * (1 + np.cos(2 * np.pi * shaft_hz[:, None] * times + phase))
    index = np.rint(times * rate_hz).astype(np.int64)
    inside = (index < n_samples) & (index >= 0)
    flat = (np.arange(blocks)[:, None] * n_samples + index)[inside]
    return np.bincount(flat, weights=heights[inside], minlength=blocks * n_samples).reshape(blocks, n_samples)


def waveform_blocks(
    asset: Asset, comp: Components, rows: np.ndarray, waveform: Waveform, rng: np.random.Generator
) -> np.ndarray:
    """Acceleration waveform blocks (m/s²) captured at grid rows ``rows``.

    Parameters
    ----------
    rows : ndarray of int, shape (B,)
        Scalar-grid index whose state each block shows.

    Returns
    -------
    ndarray of float32, shape (B, waveform.samples)
    """
    fs, n = waveform.rate_hz, waveform.samples
    kind = TYPE_PHYSICS[asset.type]
    b, a = _resonator(waveform.resonance_hz or kind["resonance_hz"], fs)
    t32 = (np.arange(n) / fs).astype(np.float32)
    ratios = asset.bearing.defect_frequencies(1.0)
    order_list = np.array(ORDERS + (float(kind["pass_count"]),))
    out = np.empty((len(rows), n), dtype=np.float32)
    for lo in range(0, len(rows), _CHUNK):
        r = rows[lo : lo + _CHUNK]
        blocks = len(r)
        shaft = comp.speed_hz[r]
        orders = comp.orders_at(r)
        phases = rng.uniform(0, 2 * np.pi, (_CHUNK, len(order_list)))[:blocks]
        # float32 and in-place: sines are most of the cost, and float32 halves the memory traffic;
        # its error (< 1e-4 m/s²) is below the 0.1 mm/s² the payloads carry
        signal = np.zeros((blocks, n), dtype=np.float32)
        arg = np.empty((blocks, n), dtype=np.float32)
        for j, order in enumerate(order_list):
            freq = order * shaft
            peak = np.sqrt(2) * orders[:, j] / 1000.0 * 2 * np.pi * freq
            np.multiply((2 * np.pi * freq).astype(np.float32)[:, None], t32[None, :], out=arg)
            arg += phases[:, j : j + 1].astype(np.float32)
            np.sin(arg, out=arg)
            arg *= peak.astype(np.float32)[:, None]
            signal += arg
        excitation = comp.resonance_noise[r][:, None] * rng.standard_normal((_CHUNK, n))[:blocks]
        excitation += _impact_train(
            fs, n, ratios["bpfo"] * shaft, ratios["bpfo"] * asset.running_speed_hz, comp.outer_impact[r], None, rng
        )
        excitation += _impact_train(
            fs, n, ratios["bpfi"] * shaft, ratios["bpfi"] * asset.running_speed_hz, comp.inner_impact[r], shaft, rng
        )
        signal += lfilter(b, a, excitation, axis=1)
        signal += 0.02 * rng.standard_normal((_CHUNK, n), dtype=np.float32)[:blocks]
        out[lo : lo + blocks] = signal
    return out
