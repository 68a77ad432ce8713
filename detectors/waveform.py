"""Waveform features per block of acceleration samples, vectorised over a batch of blocks.

A block is one burst of ``n_samples`` acceleration samples (m/s²) taken at ``rate_hz``. Every
function here takes a 2-D array ``(n_blocks, n_samples)`` and returns one value per block, so a
batch of a thousand blocks costs a handful of numpy calls rather than a thousand.

Bearing defect frequencies follow the rolling-element bearing kinematics given in R. B. Randall and
J. Antoni, "Rolling element bearing diagnostics — A tutorial", Mechanical Systems and Signal
Processing 25 (2011) 485–520, eqs. (1)–(4) (the same formulas appear in bearing makers' catalogues).
`diagnose_bearing` follows the same tutorial's envelope analysis: demodulate the band where the
impacts ring, choosing it by spectral kurtosis (J. Antoni, "Fast computation of the kurtogram for
the detection of transient faults", MSSP 21 (2007) 108–124, here over a coarse grid of bands), and
read the defect lines in the squared envelope's spectrum, each against the floor around it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import fft as sp_fft
from scipy import signal


_TINY = 1e-30


def block_features(blocks: np.ndarray) -> dict[str, np.ndarray]:
    """Time-domain features of each block.

    Parameters
    ----------
    blocks : ndarray, shape (n_blocks, n_samples)
        Acceleration samples, one block per row (float32 or float64).

    Returns
    -------
    dict of str to ndarray of float64, shape (n_blocks,)
        ``rms`` (root mean square, about zero mean), ``peak`` (largest absolute deviation from the
        block mean), ``crest_factor`` (peak / rms), ``kurtosis`` (Pearson's, 3.0 for a Gaussian
        block; impacts from a bearing defect raise it), ``skewness`` and ``mean``.

    Notes
    -----
    Moments are taken over the whole batch with products, not ``** 4``: on float32 the power goes
    through ``pow`` and is some 40× slower, and calling ``scipy.stats.kurtosis`` per block costs a
    few hundred microseconds each.

    Examples
    --------
    A block with a train of impacts has a higher kurtosis and crest factor than a clean one:

    >>> rng = np.random.default_rng(0)
    >>> clean = rng.normal(0, 1, (2, 4096)).astype(np.float32)
    >>> faulty = clean.copy()
    >>> faulty[1, ::256] += 12.0
    >>> f = block_features(faulty)
    >>> bool(f["kurtosis"][1] > 6 > f["kurtosis"][0])
    True
    >>> bool(f["crest_factor"][1] > f["crest_factor"][0])
    True
    """
    x = np.asarray(blocks)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"blocks must have shape (n_blocks, n_samples > 0), got {x.shape}")
    x = x.astype(np.float64, copy=False)
    mean = x.mean(axis=1)
    d = x - mean[:, None]
    d2 = d * d
    m2 = d2.mean(axis=1)
    m3 = (d2 * d).mean(axis=1)
    m4 = (d2 * d2).mean(axis=1)
    rms = np.sqrt(m2)
    peak = np.abs(d).max(axis=1)
    safe = np.maximum(m2, _TINY)
    return {
        "mean": mean,
        "rms": rms,
        "peak": peak,
        "crest_factor": peak / np.maximum(rms, _TINY),
        "kurtosis": np.where(m2 > _TINY, m4 / (safe * safe), 0.0),
        "skewness": np.where(m2 > _TINY, m3 / (safe * np.sqrt(safe)), 0.0),
    }


def band_energies(blocks: np.ndarray, rate_hz: float, bands: dict[str, tuple[float, float]]) -> dict[str, np.ndarray]:
    """Mean-square acceleration in frequency bands, from one FFT over the batch.

    Parameters
    ----------
    blocks : ndarray, shape (n_blocks, n_samples)
    rate_hz : float
        Sampling rate of the blocks.
    bands : dict of str to (low_hz, high_hz)

    Returns
    -------
    dict of str to ndarray, shape (n_blocks,)
        Energy in each band, in (m/s²)²; summed over all bands it equals the block's mean square
        (Parseval) when the bands tile ``[0, rate_hz / 2]``.

    Examples
    --------
    >>> t = np.arange(2048) / 2048.0
    >>> blocks = np.stack([np.sin(2 * np.pi * 50 * t), np.sin(2 * np.pi * 400 * t)])
    >>> e = band_energies(blocks, 2048.0, {"low": (0, 100), "high": (300, 500)})
    >>> np.round(e["low"], 3), np.round(e["high"], 3)
    (array([0.5, 0. ]), array([0. , 0.5]))
    """
    x = np.asarray(blocks, dtype=np.float64)
    n = x.shape[1]
    spec = np.fft.rfft(x, axis=1)
    power = (spec.real * spec.real + spec.imag * spec.imag) / (n * n)
    power[:, 1 : (n + 1) // 2] *= 2.0  # one-sided: fold the negative frequencies in
    freqs = np.fft.rfftfreq(n, 1.0 / rate_hz)
    out = {}
    for name, (lo, hi) in bands.items():
        mask = (freqs >= lo) & (freqs < hi)
        out[name] = power[:, mask].sum(axis=1)
    return out


@dataclass(frozen=True)
class BearingGeometry:
    """A rolling-element bearing: number of rolling elements, their diameter, pitch diameter, angle."""

    n_balls: int
    ball_diameter_mm: float
    pitch_diameter_mm: float
    contact_angle_deg: float = 0.0


#: Bearings by designation, with the geometry their makers or users publish. 6205: the SKF
#: 6205-2RS JEM deep-groove bearing at the drive end of a widely used public bearing test rig, as
#: published with that rig's data (9 balls, ball 0.3126 in, pitch 1.537 in, contact angle 0; defect
#: frequencies per shaft turn BPFO 3.5848, BPFI 5.4152, BSF 2.357, FTF 0.39828). Others: give the
#: geometry itself (`BearingGeometry`, or ``--balls --ball-mm --pitch-mm`` of ``faultline diagnose``).
BEARING_DESIGNATIONS = {"6205": BearingGeometry(9, 0.3126 * 25.4, 1.537 * 25.4, 0.0)}


def bearing_frequencies(bearing: BearingGeometry, shaft_hz: float | np.ndarray) -> dict[str, np.ndarray]:
    """Bearing defect frequencies for an outer race fixed and the inner race turning at ``shaft_hz``.

    Randall & Antoni (2011), eqs. (1)–(4): with ``r = d / D · cos φ``,
    BPFO = n/2 · f (1 − r), BPFI = n/2 · f (1 + r), FTF = f/2 · (1 − r),
    BSF = D / (2d) · f (1 − r²).

    Examples
    --------
    A 6205-like bearing (9 balls, 7.94 mm, 39.04 mm pitch) at 29.95 Hz:

    >>> f = bearing_frequencies(BearingGeometry(9, 7.94, 39.04), 29.95)
    >>> {k: round(float(v), 1) for k, v in f.items()}
    {'bpfo': 107.4, 'bpfi': 162.2, 'bsf': 70.6, 'ftf': 11.9}
    """
    f = np.asarray(shaft_hz, dtype=np.float64)
    r = bearing.ball_diameter_mm / bearing.pitch_diameter_mm * np.cos(np.radians(bearing.contact_angle_deg))
    n = bearing.n_balls
    return {
        "bpfo": n / 2.0 * f * (1.0 - r),
        "bpfi": n / 2.0 * f * (1.0 + r),
        "bsf": bearing.pitch_diameter_mm / (2.0 * bearing.ball_diameter_mm) * f * (1.0 - r * r),
        "ftf": f / 2.0 * (1.0 - r),
    }


def envelope_spectrum(
    blocks: np.ndarray, rate_hz: float, band_hz: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude spectrum of each block's envelope (after an optional band-pass).

    Bearing impacts excite high-frequency resonances; the envelope of the band-passed signal
    repeats at the defect frequency, which a plain spectrum hides under shaft harmonics.

    Parameters
    ----------
    blocks : ndarray, shape (n_blocks, n_samples)
    rate_hz : float
    band_hz : (low, high), optional
        Band-pass applied first (4th-order Butterworth, zero phase); default: none.

    Returns
    -------
    freqs : ndarray, shape (n_samples // 2 + 1,)
    amplitude : ndarray, shape (n_blocks, n_samples // 2 + 1)
    """
    x = np.asarray(blocks, dtype=np.float64)
    if band_hz is not None:
        lo, hi = band_hz
        hi = min(hi, 0.45 * rate_hz)
        sos = signal.butter(4, [lo, hi], btype="bandpass", fs=rate_hz, output="sos")
        x = signal.sosfiltfilt(sos, x, axis=1)
    env = np.abs(signal.hilbert(x, axis=1))
    env -= env.mean(axis=1, keepdims=True)
    n = x.shape[1]
    amp = np.abs(np.fft.rfft(env, axis=1)) * (2.0 / n)
    return np.fft.rfftfreq(n, 1.0 / rate_hz), amp


BEARING_MODES = ("bpfo", "bpfi", "bsf", "ftf")
"""Bearing defect modes in the order of their codes 1..4: outer race, inner race, ball (rolling
element), cage. Code 0 means no defect tone."""

#: How many of the most impulsive bands (by spectral kurtosis) `diagnose_bearing` reads the lines of
#: when it averages a record's blocks, keeping the one whose defect stands out most: on real
#: machines another impulsive source (a knock, a resonance excited by flow) can outrank the band
#: where the defect rings. A single block keeps its most impulsive band: with one spectrum's spread
#: of noise, searching more bands found lines in noise (one healthy 1 s record in 60 on the test
#: seeds), where an average of many spectra has a narrow floor.
BAND_CANDIDATES = 3

#: Chance that one bin of pure noise in the envelope spectrum passes the fundamental's test. The
#: test is absolute (no baseline to learn), so a ten-second record is diagnosed at once.
LINE_FALSE_ALARM = 1e-4
#: Least amplitude ratio (2.0 = 6 dB over the local floor) a defect's fundamental must reach in a
#: spectrum of 1 Hz lines however many segments are averaged: averaging narrows the noise, not the
#: machine's own lines (modulation at shaft and line frequency), which sit near the defect
#: frequencies. In coarser lines the floor holds more noise per line and the same requirement on
#: the line's power reads as a smaller ratio (see `line_thresholds`).
MIN_LINE_RATIO = 2.0


def line_thresholds(segments: int, resolution_hz: float = 1.0, bands: int = 1) -> tuple[float, float]:
    """Amplitude ratios a mode must reach: (fundamental, geometric mean of its other harmonics).

    The power of a noise bin averaged over ``segments`` Welch segments is Gamma(segments)
    distributed; the fundamental's threshold is the ratio of its ``1 - LINE_FALSE_ALARM`` quantile
    to its median (the floor is a median), as an amplitude, and at least ``MIN_LINE_RATIO`` at 1 Hz
    resolution. That least ratio is a line's power over the noise power in one 1 Hz bin; the noise
    in a bin grows with its width while a line's power does not, so at ``resolution_hz`` the same
    line reads as a power ratio of ``1 + (MIN_LINE_RATIO² − 1) / resolution_hz``. This is what lets
    many short blocks averaged over a record (85 ms blocks: 11.7 Hz lines) name a defect, where the
    fixed 6 dB asked more of a coarse spectrum than of a fine one. The 2nd and 3rd harmonics
    together (geometric mean) must reach the fundamental's threshold to the 3/4 power: impacts repeat
    as a comb of lines, so a line at the fundamental with nothing at its harmonics is a tone from
    elsewhere, not a defect (with the square root instead, one harmonic's noise alone passed a lone
    tone in ten-second records). Where the lines of ``bands`` bands are read and the strongest kept,
    each is held to ``LINE_FALSE_ALARM / bands`` (Bonferroni), so looking in more places does not
    find more defects in noise.

    >>> [tuple(round(v, 2) for v in line_thresholds(k)) for k in (1, 2, 10)]
    [(3.65, 2.64), (2.65, 2.08), (2.0, 1.68)]
    >>> [round(line_thresholds(k, 11.7)[0], 2) for k in (1, 10, 117)]
    [3.65, 1.65, 1.18]
    >>> round(line_thresholds(1, 5.0, bands=3)[0], 2)
    3.86
    """
    from scipy.stats import gamma

    noise = gamma(max(int(segments), 1))
    least = np.sqrt(1.0 + (MIN_LINE_RATIO**2 - 1.0) / max(float(resolution_hz), _TINY))
    t1 = max(float(np.sqrt(noise.isf(LINE_FALSE_ALARM / max(int(bands), 1)) / noise.median())), float(least))
    return t1, float(t1**0.75)


@dataclass(frozen=True)
class BearingDiagnosis:
    """What the envelope spectrum says about a bearing, per block.

    Attributes
    ----------
    ratios : dict of str to ndarray, shape (n_blocks,)
        For each mode in ``BEARING_MODES``, the peak-to-local-floor amplitude ratio of the envelope
        spectrum at its line and harmonics (geometric mean over the harmonics, each counted as at
        least 1; about 1 for a healthy bearing). The ball's line is 2×BSF. NaN where the block is
        too short to resolve the mode's frequency.
    strength : ndarray, shape (n_blocks,)
        The best mode's strength in alarm units: the smaller of its fundamental's ratio and the
        geometric mean of its other harmonics' ratios, each over its threshold
        (`line_thresholds`); 1.0 or more means a defect's comb of lines stands out of the floor.
    mode : ndarray of int64, shape (n_blocks,)
        Code of the best-matching mode (1 = ``bpfo`` ... 4 = ``ftf``), 0 where ``strength < 1``.
    band_hz : ndarray, shape (n_blocks, 2)
        The band whose envelope was analysed (chosen by spectral kurtosis unless configured).
    """

    ratios: dict[str, np.ndarray]
    strength: np.ndarray
    mode: np.ndarray
    band_hz: np.ndarray

    def named(self) -> list[str | None]:
        """The best mode's name per block, None where no defect tone stands out."""
        return [BEARING_MODES[m - 1] if m else None for m in self.mode.tolist()]


def _candidate_bands(rate_hz: float, lowest_hz: float, min_width_hz: float) -> np.ndarray:
    """Bands of a fast-kurtogram-like grid: halves, quarters, eighths... of the spectrum, half overlapping.

    Only bands wide enough to carry the envelope's harmonics and starting above the frequencies
    examined in the envelope (so shaft and line harmonics in the raw signal are left out) qualify.
    """
    nyq = 0.5 * rate_hz
    bands = []
    width = nyq / 2
    while width >= min_width_hz:
        lo = np.arange(0.0, nyq - width + 1e-9, width / 2)
        bands += [(a, a + width) for a in lo if a >= lowest_hz]
        width /= 2
    if not bands:  # a slow rate: the widest band above the examined frequencies
        bands = [(min(lowest_hz, 0.5 * nyq), nyq)]
    return np.asarray(bands, dtype=np.float64)


def _band_envelopes(
    spec: np.ndarray, n: int, rate_hz: float, bands: np.ndarray, pooled: bool = False, candidates: int = 1
) -> tuple[list[np.ndarray], np.ndarray, float]:
    """Squared envelopes of each block in its most impulsive bands, those bands' indices, the envelopes' rate.

    A band's bins, moved down to zero frequency, are the spectrum of its complex envelope; the
    inverse FFT over just enough bins (twice the widest band, so the squared envelope does not
    alias) gives it at a reduced rate, a few times cheaper than at the full rate. The bands whose
    complex envelope has the largest kurtosis ``E|z|⁴ / (E|z|²)² − 2`` (0 for Gaussian noise)
    hold the impacts (Antoni's spectral kurtosis). One pass measures every band's kurtosis, a
    second makes the envelopes of the ``candidates`` best, so memory stays at a few batches of
    blocks. ``pooled``: the blocks are pieces of one record and share their bands, ranked by median
    kurtosis over the blocks: a defect rings in every block, a knock in a few, so the median
    follows the defect.

    Returns a list of ``candidates`` arrays (n_blocks, size), best first, and the band index of
    each, shape (candidates, n_blocks).
    """
    edges = np.ceil(np.asarray(bands) * n / rate_hz).astype(np.int64).clip(1, spec.shape[1])
    size = sp_fft.next_fast_len(int(2 * (edges[:, 1] - edges[:, 0]).max()) + 2)
    base = np.zeros((spec.shape[0], size), dtype=np.complex64)

    def envelope(a: int, b: int, rows: np.ndarray | None = None) -> np.ndarray:
        part = base if rows is None else base[rows]  # (a copy for a subset of rows)
        part[:] = 0
        part[:, : b - a] = spec[:, a:b] if rows is None else spec[rows, a:b]
        z = sp_fft.ifft(part, axis=1)
        return (z.real * z.real + z.imag * z.imag).astype(np.float64)

    kurt = np.empty((len(edges), spec.shape[0]))
    for i, (a, b) in enumerate(edges):
        env = envelope(a, b)
        m2 = env.mean(axis=1)
        kurt[i] = (env * env).mean(axis=1) / np.maximum(m2 * m2, _TINY) - 2.0
    if pooled:
        kurt[:] = np.median(kurt, axis=1, keepdims=True)
    order = np.argsort(-kurt, axis=0, kind="stable")[: min(candidates, len(edges))]
    envs = []
    for choice in order:
        env = np.empty((spec.shape[0], size))
        for i in np.unique(choice):
            rows = np.flatnonzero(choice == i)
            env[rows] = envelope(edges[i, 0], edges[i, 1], rows=rows)
        envs.append(env)
    return envs, order, rate_hz * size / n


def _envelope_power(
    env: np.ndarray, rate_hz: float, segment_s: float, pad: int
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Welch average of the squared envelope's power spectrum: Hann segments, half overlapping.

    Returns the frequency grid, the power (n_blocks, n_freqs), the true resolution (Hz) and the
    number of segments that do not overlap (how many independent spectra the average holds).
    """
    n = env.shape[1]
    seg = min(n, max(16, round(segment_s * rate_hz)))
    hop = max(1, seg // 2)
    starts = np.arange(0, n - seg + 1, hop)
    window = np.hanning(seg)
    power = np.zeros(())  # 0-d: adding the first spectrum gives it exactly
    for s0 in starts:  # a handful of segments; each FFT is over every block at once
        part = env[:, s0 : s0 + seg]
        part = (part - part.mean(axis=1, keepdims=True)) * window
        f = sp_fft.rfft(part, n=pad * seg, axis=1)
        power = power + (f.real * f.real + f.imag * f.imag)
    return np.fft.rfftfreq(pad * seg, 1.0 / rate_hz), power / len(starts), rate_hz / seg, n // seg


def _peak_to_floor(
    freqs: np.ndarray,
    amp: np.ndarray,
    f_hz: float,
    res: float,
    tolerance: float,
    top_hz: np.ndarray,
    lines_hz: np.ndarray | None = None,
) -> np.ndarray:
    """Largest amplitude within ``±tolerance`` of ``f_hz`` over the median of the bins around it.

    The floor leaves out the search window and the Hann main lobe (two true bins) either side, and
    reaches as far again plus eight true bins, so a neighbouring line cannot move the median much.
    It also leaves out the main lobes (±1.5 true bins) of the machine's own lines ``lines_hz``
    (shaft harmonics), as long as half of its bins remain: in a coarse spectrum, where shaft lines
    cover most bins, there is no floor between them to find, and all bins count.
    NaN where the frequency is too low to tell from the envelope's own DC (under four true bins)
    or its neighbourhood runs past ``top_hz`` (per block: the width of the band demodulated).
    """
    half = max(tolerance * f_hz, 0.5 * res)
    gap = half + 2.0 * res
    reach = gap + max(8.0 * res, gap)
    if f_hz < 4.0 * res or f_hz + reach > top_hz.max():
        return np.full(amp.shape[0], np.nan)
    lo, hi = np.searchsorted(freqs, [f_hz - half, f_hz + half + 1e-9])
    a, b = np.searchsorted(freqs, [max(f_hz - reach, 2.0 * res), f_hz - gap])
    c, d = np.searchsorted(freqs, [f_hz + gap, f_hz + reach])
    peak = amp[:, lo : max(hi, lo + 1)].max(axis=1)
    around = np.r_[a:b, c:d]
    if lines_hz is not None and len(lines_hz) and len(around):
        clear = np.abs(freqs[around][:, None] - lines_hz[None, :]).min(axis=1) > 1.5 * res
        if 2 * clear.sum() >= len(around):
            around = around[clear]
    floor = np.median(amp[:, around], axis=1)
    return np.where(f_hz + reach > top_hz, np.nan, peak / np.maximum(floor, _TINY))


def _geometric_mean(ratios: np.ndarray) -> np.ndarray:
    """Geometric mean over axis 0 of the finite ratios, each counted as at least 1 (1 where none is)."""
    finite = np.isfinite(ratios)
    logs = np.where(finite, np.log(np.maximum(np.where(finite, ratios, 1.0), 1.0)), 0.0)
    return np.exp(logs.sum(axis=0) / np.maximum(finite.sum(axis=0), 1))


def diagnose_bearing(
    blocks: np.ndarray,
    rate_hz: float,
    defect_hz: dict[str, float],
    shaft_hz: float,
    band_hz: tuple[float, float] | None = None,
    tolerance: float = 0.02,
    harmonics: int = 3,
    segment_s: float = 1.0,
    average: bool = False,
) -> BearingDiagnosis:
    """Name the bearing defect whose tone stands out of each block's envelope spectrum.

    Impacts of a rolling element on a defect ring the structure's resonances; the envelope of the
    resonance band repeats at the defect frequency. Per block: the band with the most impulsive
    envelope (spectral kurtosis over a grid of bands, unless ``band_hz`` is given); its squared
    envelope's spectrum (Welch average of ``segment_s`` Hann segments, zero-padded 4×); then, for
    each mode, the peak within ``±tolerance`` (slip) of its frequency and ``harmonics`` multiples,
    each over the median of the spectrum around it. Outer race: BPFO and harmonics. Inner race:
    BPFI and harmonics, with sidebands at ± the shaft frequency (the defect turns with the shaft
    through the load zone). Ball: the envelope repeats at 2×BSF (the defect strikes both races each
    spin), with sidebands at ± FTF (the ball travels with the cage). Cage: FTF and harmonics.
    Sidebands only rank the modes; detection asks the fundamental and the harmonics together to
    stand clear of the floor by `line_thresholds` (absolute levels, so a ten-second record is
    diagnosed at once, with no baseline to learn).

    Parameters
    ----------
    blocks : ndarray, shape (n_blocks, n_samples)
        Acceleration blocks of one sensor at one running speed.
    rate_hz : float
    defect_hz : dict
        ``bpfo``, ``bpfi``, ``bsf``, ``ftf`` in Hz (from `bearing_frequencies`).
    shaft_hz : float
        Running speed, for the inner race's sidebands.
    band_hz : (low, high), optional
        Band to demodulate; default: chosen per block by spectral kurtosis.
    tolerance : float
        Relative search window around each frequency (slip of the rolling elements: 1–2 %).
    harmonics : int
    segment_s : float
        Welch segment length; sets the resolution (1 s → 1 Hz, about 1 % of a typical BPFO, as
        fine as slip lets a line be). A shorter block is one segment: coarser lines, and a mode
        whose frequency falls under four of its bins (often the cage) is reported as NaN.
    average : bool
        The blocks are pieces of one record: demodulate one band for all and average their envelope
        spectra before reading the lines, so the diagnosis (one row) sees the record's lines over a
        floor as smooth as all its blocks together make it; many short blocks averaged find what
        one cannot. The band: of the ``BAND_CANDIDATES`` with the largest median spectral kurtosis
        over the blocks, the one whose defect stands out most.

    Returns
    -------
    BearingDiagnosis

    Examples
    --------
    A 6205 bearing at 25 Hz with an inner-race defect: impacts at BPFI, stronger each time the
    defect passes through the load zone (once per turn), ringing a 3.5 kHz resonance, under
    noise and a shaft tone:

    >>> rng = np.random.default_rng(3)
    >>> rate, n, shaft = 12000.0, 24000, 25.0
    >>> hz = {k: float(v) for k, v in bearing_frequencies(BearingGeometry(9, 7.94, 39.04), shaft).items()}
    >>> t = np.arange(n) / rate
    >>> hits = np.arange(0, t[-1], 1 / hz["bpfi"])
    >>> pulses = np.zeros(n)
    >>> pulses[(hits * rate).astype(int)] = 1 + 0.5 * np.cos(2 * np.pi * shaft * hits)
    >>> ring = np.exp(-t[:120] * 900) * np.sin(2 * np.pi * 3500 * t[:120])
    >>> healthy = rng.normal(0, 0.5, n) + 0.5 * np.sin(2 * np.pi * shaft * t)
    >>> d = diagnose_bearing(np.stack([healthy, healthy + 2 * np.convolve(pulses, ring)[:n]]), rate, hz, shaft)
    >>> d.named()
    [None, 'bpfi']
    >>> {k: round(float(v[1]), 1) for k, v in d.ratios.items()}
    {'bpfo': 1.6, 'bpfi': 21.6, 'bsf': 1.5, 'ftf': 1.3}
    """
    x = np.asarray(blocks, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 16:
        raise ValueError(f"blocks must have shape (n_blocks, n_samples >= 16), got {x.shape}")
    n = x.shape[1]
    ftf, bsf = float(defect_hz["ftf"]), float(defect_hz["bsf"])
    # the envelope frequencies examined: up to the last harmonic and its sidebands
    top_line = max(harmonics * float(defect_hz["bpfi"]) + shaft_hz, 2 * harmonics * bsf + ftf)
    if band_hz is None:
        bands = _candidate_bands(rate_hz, lowest_hz=top_line, min_width_hz=1.5 * top_line)
    else:
        bands = np.array([[band_hz[0], min(band_hz[1], 0.5 * rate_hz)]], dtype=np.float64)
    # tapered at the ends (Tukey, 5 % each side): the jump from a block's last sample to its first
    # (the FFT is circular) is a step, broadband and impulsive in every band's envelope; in a short
    # block it made the band under the strongest low-frequency lines look the most impulsive. The
    # envelope's own Hann window (below) gives the tapered ends no weight anyway.
    taper = signal.windows.tukey(n, alpha=0.1)
    spec = sp_fft.rfft((x - x.mean(axis=1, keepdims=True)) * taper, axis=1)
    envs, order, env_rate = _band_envelopes(
        spec, n, rate_hz, bands, pooled=average, candidates=BAND_CANDIDATES if average else 1
    )
    best: BearingDiagnosis | None = None
    for env, which in zip(envs, order):
        # zero-padded to a bin of at most a quarter of the true resolution: a line between two true
        # bins is read near its top, not on the Hann window's shoulder
        freqs, power, res, segments = _envelope_power(env, env_rate, segment_s, pad=4)
        if average:
            power, segments, which = power.mean(axis=0, keepdims=True), segments * len(power), which[:1]
        top = bands[which, 1] - bands[which, 0]  # the envelope of a band carries frequencies up to its width
        ratios, strength, mode = _read_lines(
            freqs, np.sqrt(power), res, segments, top, defect_hz, shaft_hz, tolerance, harmonics, bands=len(envs)
        )
        d = BearingDiagnosis(ratios, strength, mode, bands[which])
        best = d if best is None else _stronger(best, d)
    assert best is not None  # there is at least one candidate band
    return best


def _stronger(a: BearingDiagnosis, b: BearingDiagnosis) -> BearingDiagnosis:
    """Per block, the diagnosis of whichever band shows the stronger defect (``a`` on a tie)."""
    take = b.strength > a.strength
    return BearingDiagnosis(
        {k: np.where(take, b.ratios[k], v) for k, v in a.ratios.items()},
        np.where(take, b.strength, a.strength),
        np.where(take, b.mode, a.mode),
        np.where(take[:, None], b.band_hz, a.band_hz),
    )


def _read_lines(
    freqs: np.ndarray,
    amp: np.ndarray,
    res: float,
    segments: int,
    top: np.ndarray,
    defect_hz: dict[str, float],
    shaft_hz: float,
    tolerance: float,
    harmonics: int,
    bands: int = 1,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Each mode's ratio, the best mode's strength and its code, from envelope amplitude spectra
    (n_blocks, n_freqs); see `diagnose_bearing`."""
    ftf, bsf = float(defect_hz["ftf"]), float(defect_hz["bsf"])
    t1, th = line_thresholds(segments, res, bands)

    shaft_lines = shaft_hz * np.arange(1, int(freqs[-1] / max(shaft_hz, _TINY)) + 1) if shaft_hz > 0 else None

    def ratio(f: float) -> np.ndarray:
        return _peak_to_floor(freqs, amp, f, res, tolerance, top, shaft_lines)

    # (fundamental, harmonic multiples, sidebands) per mode
    lines = {
        "bpfo": (float(defect_hz["bpfo"]), []),
        "bpfi": (float(defect_hz["bpfi"]), [-shaft_hz, shaft_hz]),
        "bsf": (2 * bsf, [-ftf, ftf]),
        "ftf": (ftf, []),
    }
    multiples = np.arange(1, harmonics + 1)
    ratios: dict[str, np.ndarray] = {}
    strength_rows: list[np.ndarray] = []
    rank_rows: list[np.ndarray] = []
    for name in BEARING_MODES:
        f0, sidebands = lines[name]
        others = np.concatenate([lines[m][0] * multiples for m in BEARING_MODES if m != name])
        per = np.stack([ratio(h * f0) for h in multiples])  # (harmonics, n_blocks)
        # a harmonic that falls on another mode's line (3×BPFO and 2×BPFI of a 6205 are 0.7 % apart)
        # says nothing about which mode it is: it does not count
        shared = (
            np.abs(multiples[:, None] * f0 - others[None, :])
            < tolerance * (multiples[:, None] * f0 + others[None, :]) + 2 * res
        ).any(axis=1)
        shared[0] = False
        per[shared] = np.nan
        ratios[name] = np.where(np.isfinite(per[0]), _geometric_mean(per), np.nan)
        # a train of impacts has harmonics; a tone from elsewhere (electrical, a neighbour machine)
        # that happens to sit at the fundamental has none: with no harmonic measured, no defect
        s = np.minimum(per[0] / t1, _geometric_mean(per[1:]) / th)
        bonus = np.ones(amp.shape[0])
        if sidebands:
            side = np.stack([ratio(f0 + df) for df in sidebands])
            side = np.where(np.isfinite(side), np.maximum(side, 1.0), 1.0)
            bonus = np.sqrt(np.sqrt(side.prod(axis=0)))  # geometric mean of two, square-rooted
        strength_rows.append(np.where(np.isfinite(s), s, -np.inf))
        rank_rows.append(np.where(np.isfinite(s), s * bonus, -np.inf))
    strength, rank = np.stack(strength_rows), np.stack(rank_rows)
    # the best among the modes that pass (sidebands must not promote a mode that does not)
    passed = strength >= 1.0
    # which passing modes another passing mode explains: a comb at a lower mode's frequency has
    # lines at its multiples (BPFO is exactly n_balls × FTF), and a damaged ball, carried round by
    # the cage, modulates its impacts at FTF (more weakly than it strikes: a stronger FTF comb is
    # the cage's own)
    fund = np.array([lines[m][0] for m in BEARING_MODES])
    alone = passed.copy()
    for i, j in itertools.permutations(range(len(fund)), 2):
        k = round(fund[i] / fund[j])
        if k >= 2 and abs(fund[i] - k * fund[j]) <= 0.25 * tolerance * fund[i]:
            alone[i] &= ~passed[j]
    ball, cage = BEARING_MODES.index("bsf"), BEARING_MODES.index("ftf")
    alone[cage] &= ~(passed[ball] & (strength[ball] >= strength[cage]))
    passed = alone
    best = np.where(passed.any(axis=0), np.where(passed, rank, -np.inf).argmax(axis=0), strength.argmax(axis=0))
    top_strength = strength[best, np.arange(amp.shape[0])]
    top_strength = np.where(np.isfinite(top_strength), top_strength, 0.0)
    mode = np.where(passed.any(axis=0), best + 1, 0).astype(np.int64)
    return ratios, top_strength, mode


#: Default block of `diagnose_record`: one second (1 Hz lines, about 1 % of a typical BPFO: as fine
#: as 1–2 % slip lets a defect line be), never fewer samples than this.
RECORD_BLOCK_S = 1.0
RECORD_MIN_BLOCK = 8192


def record_blocks(record: np.ndarray, rate_hz: float, block: int | None = None) -> np.ndarray:
    """Split a record into consecutive blocks, shape (n_blocks, block); a remainder is left out.

    ``block`` defaults to one second of samples, at least ``RECORD_MIN_BLOCK``; a record shorter
    than a block is one block.

    >>> record_blocks(np.arange(30000.0), 12000.0).shape
    (2, 12000)
    >>> record_blocks(np.arange(3000.0), 12000.0, block=1024).shape
    (2, 1024)
    """
    x = np.asarray(record, dtype=np.float64).ravel()
    size = int(block) if block else max(round(RECORD_BLOCK_S * rate_hz), RECORD_MIN_BLOCK)
    if size < 16:
        raise ValueError(f"block of {size} samples: at least 16 needed")
    size = min(size, len(x))
    if size < 16:
        raise ValueError(f"record of {len(x)} samples: at least 16 needed")
    count = len(x) // size
    return x[: count * size].reshape(count, size)


def diagnose_record(
    record: np.ndarray,
    rate_hz: float,
    defect_hz: dict[str, float],
    shaft_hz: float,
    block: int | None = None,
    band_hz: tuple[float, float] | None = None,
    tolerance: float = 0.02,
) -> tuple[BearingDiagnosis, BearingDiagnosis]:
    """Diagnose a whole vibration record: each block on its own, and the record from all blocks.

    Parameters
    ----------
    record : ndarray, shape (n_samples,)
    block : int, optional
        Samples per block (see `record_blocks`).

    Returns
    -------
    per_block : BearingDiagnosis
        One row per block (`diagnose_bearing`).
    whole : BearingDiagnosis
        One row: the blocks' envelope spectra averaged (``average=True``), far steadier than any
        one block, so short blocks still add up to a diagnosis.

    Examples
    --------
    An outer-race defect, diagnosed from 1,024-sample blocks (85 ms, 11.7 Hz lines):

    >>> from faultline.simulators.bearing_records import bearing_record, kinematic_frequencies
    >>> x = bearing_record(np.random.default_rng(4), "bpfo", shaft_hz=25.0, seconds=5.0, noise=0.5)
    >>> blocks, whole = diagnose_record(x, 12000.0, kinematic_frequencies("6205", 25.0), 25.0, block=1024)
    >>> whole.named(), len(blocks.mode)
    (['bpfo'], 58)
    """
    blocks = record_blocks(record, rate_hz, block)
    args: dict[str, Any] = dict(band_hz=band_hz, tolerance=tolerance, segment_s=RECORD_BLOCK_S)
    return (
        diagnose_bearing(blocks, rate_hz, defect_hz, shaft_hz, **args),
        diagnose_bearing(blocks, rate_hz, defect_hz, shaft_hz, average=True, **args),
    )
