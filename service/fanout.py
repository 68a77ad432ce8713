"""History on a Dask cluster: replays of long history spread over many processes or machines.

A replay is split by asset: an asset's streams stay together (its relation checks join them) and
assets share no detector state, so each part is the replay the whole would have made of it. Every
part is cut into the same hourly spans as the whole (``start_ns``), so the deadman asks at the same
moments. The findings are the single-process run's, whatever the number of workers
(`tests/service/test_fanout.py` compares them).

Splitting one stream's history by time would need every state-carrying check (CUSUM, learnt
baselines with days of memory) to forget its past at the cut; the findings near each cut would
differ, so it is not done: an asset's history is one task.

``scheduler`` is ``"local"`` (a `distributed.LocalCluster` of one single-threaded worker process per
core) or the address of a running scheduler (``tcp://host:8786``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Iterator

from faultline.detectors import DetectorsConfig, Finding


@contextmanager
def dask_client(scheduler: str, workers: int | None = None) -> Iterator[Any]:
    """A `distributed.Client` on a local cluster (``"local"``) or on the scheduler at ``scheduler``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise RuntimeError(
            "spreading history over Dask needs the 'history' extra: pip install 'faultline[history]'"
        ) from None
    if scheduler == "local":
        with (
            LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    else:
        with Client(scheduler) as client:
            yield client


def by_asset(history: list[tuple]) -> dict[str, list[tuple]]:
    """``[(asset, sensor, ts, value)]`` grouped by asset.

    >>> sorted(by_asset([("P-1", "temp", [], []), ("P-2", "temp", [], []), ("P-1", "rms", [], [])]))
    ['P-1', 'P-2']
    """
    parts: dict[str, list[tuple]] = defaultdict(list)
    for row in history:
        parts[row[0]].append(row)
    return dict(parts)


def _replay_part(
    config: DetectorsConfig, label: str, part: list[tuple], end_ns: int, step_ns: int, start_ns: int
) -> list[Finding]:
    from faultline.service.backtest import replay

    return replay(config, label, part, end_ns, step_ns, start_ns=start_ns)


def replay_by_asset(
    client: Any, config: DetectorsConfig, label: str, history: list[tuple], end_ns: int, step_ns: int | None = None
) -> list[Finding]:
    """`service.backtest.replay` on the cluster of ``client``: one task per asset, findings in time order."""
    from faultline.service.backtest import HOUR_NS

    if not history:
        return []
    start_ns = min(int(t.min()) for _, _, t, _ in history if len(t))
    futures = [
        client.submit(_replay_part, config, label, part, end_ns, step_ns or HOUR_NS, start_ns, pure=False)
        for part in by_asset(history).values()
    ]
    findings = [f for part in client.gather(futures) for f in part]
    return sorted(findings, key=lambda f: (f.started_at, f.ended_at is not None, f.asset, f.sensor, f.rule))
