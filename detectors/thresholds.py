"""Static limits and ISO 20816 vibration zones.

ISO 20816 (formerly ISO 10816) sorts a machine's broadband vibration velocity RMS into zones: A
(newly commissioned), B (unrestricted long-term operation), C (unsatisfactory for long-term
operation), D (severe enough to cause damage). The zone boundaries depend on the machine group and
mounting and are the standard's own tables, which Faultline does not ship: they come from
configuration (the sample configuration holds example values to be replaced by the user's).
"""

from __future__ import annotations

import numpy as np

from faultline.detectors.streams import Grid, StreamingDetector

__all__ = ["IsoZones", "StaticLimit", "iso_zone"]


class StaticLimit(StreamingDetector):
    """A fixed upper (and optional lower) limit, e.g. bearing temperature 90 °C.

    Score ``1 + (value - high) / scale`` above the limit side, so the score reaches 1.0 exactly at
    the limit; with the default ``scale = |high|`` the score is ``value / high``.

    Parameters
    ----------
    high : float
        Upper limit.
    low : float, optional
        Lower limit (score ``1 + (low - value) / scale``); the larger of the two scores counts.
    scale : float, optional
        Units of the reading per 1.0 of score; default ``|high|``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> temp = 60 + rng.normal(0, 0.5, 10)
    >>> temp[7:] += 35                       # lubrication lost: the bearing heats up
    >>> scores = StaticLimit(high=90.0).update(np.zeros(10, int), np.arange(10) * 10**9, temp)
    >>> (scores >= 1).astype(int)
    array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    """

    kind = "static_limit"

    def __init__(self, high: float, low: float | None = None, scale: float | None = None):
        self.high = float(high)
        self.low = None if low is None else float(low)
        self.scale = float(scale) if scale is not None else (abs(self.high) or 1.0)
        if self.scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        score = np.subtract(value, self.high)
        score /= self.scale  # in place: the same arithmetic as 1 + (value - high) / scale
        score += 1.0
        if self.low is not None:
            score = np.maximum(score, 1.0 + (self.low - value) / self.scale)
        return score


def iso_zone(velocity_rms: np.ndarray, ab: float, bc: float, cd: float) -> np.ndarray:
    """Zone letter (``"A"``–``"D"``) of each vibration velocity RMS reading (mm/s).

    >>> iso_zone(np.array([1.0, 2.0, 5.0, 9.0]), ab=1.4, bc=2.8, cd=4.5)
    array(['A', 'B', 'D', 'D'], dtype='<U1')
    """
    return np.array(list("ABCD"))[np.searchsorted(np.array([ab, bc, cd]), np.asarray(velocity_rms), side="right")]


class IsoZones(StreamingDetector):
    """ISO 20816 zone of vibration velocity RMS; alarm on entering zone C.

    Score ``value / bc``: 1.0 at the B/C boundary, ``cd / bc`` at the C/D boundary (a rule maps
    that to a higher severity).

    Parameters
    ----------
    ab, bc, cd : float
        Zone boundaries in mm/s for the machine's group, from configuration.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> v = 1.8 + rng.normal(0, 0.1, 8)
    >>> v[5:] = [3.1, 4.0, 5.2]               # imbalance grows
    >>> det = IsoZones(ab=1.4, bc=2.8, cd=4.5)
    >>> (det.update(np.zeros(8, int), np.arange(8) * 10**9, v) >= 1).astype(int)
    array([0, 0, 0, 0, 0, 1, 1, 1])
    >>> det.zone(v[5:])
    array(['C', 'C', 'D'], dtype='<U1')
    """

    kind = "iso_zones"

    def __init__(self, ab: float, bc: float, cd: float):
        if not 0 < ab < bc < cd:
            raise ValueError(f"zone boundaries must satisfy 0 < ab < bc < cd, got {ab}, {bc}, {cd}")
        self.ab, self.bc, self.cd = float(ab), float(bc), float(cd)

    def zone(self, velocity_rms: np.ndarray) -> np.ndarray:
        return iso_zone(velocity_rms, self.ab, self.bc, self.cd)

    def _update(
        self, grid: Grid | None, ts: np.ndarray, value: np.ndarray, valid: np.ndarray, state: dict[str, np.ndarray]
    ) -> np.ndarray:
        return value / self.bc
