"""`faultline run` (the Runtime) keeps dead letters within the configured size and age limits, as
`faultline ingest` does: the store it opens is given ``ingest.dead_letter_max_bytes`` and
``ingest.dead_letter_max_age_s``."""

from __future__ import annotations

import time

from faultline.ingest.deadletter import DeadLetter
from tests.service.conftest import service_settings

MIB = 1024 * 1024


def test_run_applies_dead_letter_size_retention(tmp_path):
    from faultline.service.runtime import Runtime

    runtime = Runtime(service_settings(tmp_path, ingest={"dead_letter_max_bytes": MIB}))
    try:
        now = time.time_ns()
        for n in range(24):  # 24 records of 100 KiB: 2.3 MiB against a 1 MiB limit
            runtime.dead_letters.add_many([DeadLetter(now + n, "faultline/s/a/t", b"x" * 100 * 1024, "not JSON")])
        assert runtime.dead_letters.stored_bytes <= MIB
        kept = runtime.dead_letters.list(limit=100)
        assert 0 < len(kept) < 24 and kept[-1].received_at == now + 23  # the oldest went first
    finally:
        runtime.close()


def test_run_applies_dead_letter_age_retention(tmp_path):
    from faultline.service.runtime import Runtime

    runtime = Runtime(service_settings(tmp_path, ingest={"dead_letter_max_age_s": 86400}))
    try:
        now = time.time_ns()
        runtime.dead_letters.add_many(
            [
                DeadLetter(now - 2 * 86400 * 10**9, "faultline/s/a/t", b"{", "old"),
                DeadLetter(now, "faultline/s/a/t", b"{", "new"),
            ]
        )
        assert [r.reason for r in runtime.dead_letters.list()] == ["new"]
    finally:
        runtime.close()
