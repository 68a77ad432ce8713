"""`faultline ingest` does not load what only detection needs.

scikit-learn (and pandas, which it brings) is ~90 MB of resident memory, numba and LLVM ~55 MB; the
ingest process never fits a model nor runs a detector, so it must not pay for them. Checked in a
fresh interpreter, as the command starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_the_ingest_command_does_not_import_scikit_learn_pandas_or_numba():
    """numba (with LLVM, ~55 MB) compiles the detectors' loops: `faultline.detectors.kernels` loads it
    when a detector first runs one, not when the configuration is read."""
    code = (
        "import json, sys\n"
        "import faultline.service.settings, faultline.service.commands.ingest, faultline.ingest.pipeline\n"
        "print(json.dumps(sorted(m for m in ('sklearn', 'pandas', 'numba', 'llvmlite') if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_writing_line_protocol_does_not_import_pandas(tmp_path):
    """pyarrow imports pandas, when it can, the first time it is handed Python or numpy objects (0.4 s
    and ~60 MB in front of the first write). A stand-in ``pandas`` on the path records any attempt, so
    the test fails whether or not the real pandas is installed."""
    stand_in = tmp_path / "pandas"
    stand_in.mkdir()
    marker = tmp_path / "pandas-imported"
    (stand_in / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise ImportError('stand-in pandas: the test records the import')\n"
    )
    code = (
        "import numpy as np\n"
        "from faultline.ingest.lineprotocol import encode\n"
        "from faultline.ingest.readings import Readings, SeriesKey\n"
        "one = Readings.single_series(SeriesKey.of('telemetry', {'asset': 'p1'}), [1, 2], [4.2, 5.0])\n"
        "two = Readings.concat([one, Readings.single_series(SeriesKey.of('telemetry', {'asset': 'p2'}), [3], [1.0])])\n"
        "print(encode(one).decode()); print(encode(two).decode())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "telemetry,asset=p2 value=1 3" in out.stdout
    assert not marker.exists(), "writing line protocol imported pandas"
