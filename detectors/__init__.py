"""Faultline detectors: vectorised fault detection over numpy arrays, with no I/O.

Sign convention, stated once for every detector here: **a higher score is more abnormal, and a
score of 1.0 is the detector's own alarm level**. Calibrated detectors (``AdaptiveLevel``, ``AdaptiveDrift``,
``ShrunkMahalanobis``) put every score on one scale, the rarity ``log(1/p) / log(1/ALPHA)`` of the
reading within the stream's own normal history; each check's alarm level carries its share of the
false-alarm budget, and the engine combines a reading's checks by how far the most alarming one is
from its own alarm level (``combine``; see ``detectors.calibration``).

Streaming detectors (``update(stream, ts_ns, value) -> score``) keep per-stream state in arrays and
give the same scores however a stream is split into batches; ``to_dict``/``from_dict`` carry the
state across a restart. Multivariate detectors follow scikit-learn: ``fit(healthy)`` then ``score``.
Alert rules turn scores into alerts; the ``Engine`` runs a configuration of checks and rules over
batches and produces ``Finding``s.
"""

from faultline.detectors.adaptive import AdaptiveDrift, AdaptiveLevel
from faultline.detectors.calibration import ALPHA, DATA_QUALITY_MODES, combine, rarity
from faultline.detectors.config import ConfigHistory, ConfigVersion, DetectorsConfig, MultivariateConfig
from faultline.detectors.drift import Cusum, EnvelopeCusum, Ewma
from faultline.detectors.engine import BatchResult, Engine, Finding, bearing_defect_features
from faultline.detectors.health import NoData, OutOfRange, StuckSensor
from faultline.detectors.multivariate import HotellingT2, IsolationForestDetector, LoadResidual, ShrunkMahalanobis
from faultline.detectors.robust import RobustZ, SpikeBursts
from faultline.detectors.rules import Alert, AlertRule
from faultline.detectors.streams import StreamingDetector
from faultline.detectors.thresholds import IsoZones, StaticLimit, iso_zone
from faultline.detectors.trend import TrendToLimit
from faultline.detectors.waveform import (
    BEARING_MODES,
    BearingDiagnosis,
    BearingGeometry,
    band_energies,
    bearing_frequencies,
    block_features,
    diagnose_bearing,
    diagnose_record,
    envelope_spectrum,
    line_thresholds,
    record_blocks,
)

__all__ = [
    "ALPHA",
    "AdaptiveDrift",
    "AdaptiveLevel",
    "DATA_QUALITY_MODES",
    "ShrunkMahalanobis",
    "combine",
    "rarity",
    "Alert",
    "AlertRule",
    "BEARING_MODES",
    "BatchResult",
    "BearingDiagnosis",
    "BearingGeometry",
    "ConfigHistory",
    "ConfigVersion",
    "Cusum",
    "EnvelopeCusum",
    "DetectorsConfig",
    "Engine",
    "Ewma",
    "Finding",
    "HotellingT2",
    "IsoZones",
    "IsolationForestDetector",
    "LoadResidual",
    "MultivariateConfig",
    "NoData",
    "OutOfRange",
    "RobustZ",
    "SpikeBursts",
    "StaticLimit",
    "StreamingDetector",
    "StuckSensor",
    "TrendToLimit",
    "band_energies",
    "bearing_defect_features",
    "bearing_frequencies",
    "block_features",
    "diagnose_bearing",
    "diagnose_record",
    "envelope_spectrum",
    "iso_zone",
    "line_thresholds",
    "record_blocks",
]
