"""Faultline detectors: vectorised fault detection over numpy arrays, with no I/O.

Sign convention, stated once for every detector here: **a higher score is more abnormal, and a
score of 1.0 is the detector's own alarm level** (so scores of different detectors compare and
combine by taking the maximum).
"""

from detectors.waveform import (
    BearingGeometry,
    band_energies,
    bearing_frequencies,
    block_features,
    defect_energies,
    envelope_spectrum,
)

__all__ = [
    "BearingGeometry",
    "band_energies",
    "bearing_frequencies",
    "block_features",
    "defect_energies",
    "envelope_spectrum",
]
