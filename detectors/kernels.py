"""The detectors' compiled loops (`faultline.detectors._kernels`), loaded at their first use.

numba and LLVM are about 60 MB of resident memory. Importing the detector configuration -- which
`faultline ingest` does to read its settings -- must not load them; the first detector that runs a
compiled loop does (PEP 562: this module's ``__getattr__``). What each loop computes, and how it is
compiled and cached, is in ``_kernels``.
"""

from __future__ import annotations

import importlib
from typing import Any

# what baseline_scan computes, and which side(s) a CUSUM watches: named by the detector classes as
# they are defined, so they live here, not with the loops
CUSUM, EWMA = 0, 1
BOTH, UP, DOWN = 0, 1, 2


def __getattr__(name: str) -> Any:
    value = getattr(importlib.import_module("faultline.detectors._kernels"), name)
    globals()[name] = value
    return value
