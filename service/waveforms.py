"""The waveform features ingest stores for each acceleration block, with the machine's own bearing.

Ingest knows nothing of machines: its decoder calls an injected function with each series' blocks,
their sampling rate and the topic's tags. The function made here answers with the time-domain
features (``detectors.waveform.block_features``) and, for the waveform sensor of an asset whose
bearing geometry and running speed the detector configuration gives, the bearing diagnosis
(``bearing_defect``, ``bearing_mode`` and the peak-to-floor ratios ``bpfo``, ``bpfi``, ``bsf``, ``ftf``).
Stored as fields of measurement ``waveform``, they reach the detectors as the streams
``accel.bearing_defect`` ... that the ``bearing_defect`` check watches and names, live and in a backtest
over the store alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from faultline.detectors import DetectorsConfig


def waveform_features(detectors_config: Callable[[], "DetectorsConfig"]) -> Callable[..., dict[str, np.ndarray]]:
    """An ``ingest.codecs.WaveformFeatures`` function using the detector configuration in force.

    Parameters
    ----------
    detectors_config : callable
        Returns the configuration to take bearings and speeds from; asked at each call, so a
        configuration applied through the API is used from the next block on. The detectors package
        is imported at the first block (a stream without waveforms never pays for it).

    Returns
    -------
    callable
        ``(blocks (n_blocks, n_samples), rate_hz, tags) -> {feature: (n_blocks,) float64}``.
    """

    def features(blocks: np.ndarray, rate_hz: float, tags: dict[str, str]) -> dict[str, np.ndarray]:
        from faultline.detectors import bearing_defect_features, block_features

        out = block_features(blocks)
        asset = tags.get("asset")
        if asset:
            config = detectors_config()
            wf = config.waveform_for(asset)
            if wf is not None and tags.get("sensor") == wf.sensor:
                out.update(bearing_defect_features(config, asset, rate_hz, blocks))
        return out

    return features


__all__ = ["waveform_features"]
