"""`faultline ingest` does not load what only detection needs.

scikit-learn (and pandas, which it brings) is ~90 MB of resident memory; the ingest process never
fits a model, so it must not pay for them. Checked in a fresh interpreter, as the command starts.
"""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_ingest_command_does_not_import_scikit_learn_or_pandas():
    code = (
        "import json, sys\n"
        "import faultline.service.settings, faultline.service.commands.ingest, faultline.ingest.pipeline\n"
        "print(json.dumps(sorted(m for m in ('sklearn', 'pandas') if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
