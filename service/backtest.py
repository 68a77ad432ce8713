"""Backtest: what a proposed detector configuration would have done over stored history.

Stored readings are read back from the store, replayed in time order through a fresh engine for each
configuration (an hour at a time, with the deadman checked at the end of each hour, as the live
service sees batches), and each configuration's findings go through ticketing's real intake into a
throw-away work-order store whose clock is set to each finding's time. The result compares findings,
work orders and the SLA hours those orders would have committed engineers to.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from faultline.detectors import DetectorsConfig, Engine, Finding
from faultline.vocabulary import ManualClock
from faultline.service.runtime import finding_in
from faultline.ticketing import FindingIntake, TicketingConfig, WorkOrderStore

HOUR_NS = 3600 * 10**9

log = logging.getLogger(__name__)


def load_history(reader, start_ns: int, end_ns: int) -> tuple[list[tuple], dict[str, str]]:
    """Every stored stream's readings in ``[start_ns, end_ns)``: [(asset, sensor, ts (n,), value (n,))], sites."""
    history: list[tuple[Any, ...]] = []
    sites: dict[str, str] = {}
    for series in reader.series():
        ts, value = reader.query(series, start_ns, end_ns)
        if len(ts):
            history.append((series.asset, series.sensor, ts, value))
            if series.site:
                sites.setdefault(series.asset, series.site)
    return history, sites


def replay(
    config: DetectorsConfig, label: str, history, end_ns: int, step_ns: int = HOUR_NS, start_ns: int | None = None
) -> list[Finding]:
    """The findings a fresh engine with ``config`` produces over ``history``, an hour at a time.

    ``Engine.replay`` drives it, as it drives ``faultline score`` and ``faultline evaluate``: each
    hour processed at its end, the deadman never asked past ``end_ns`` (silence after the window is
    not the window's), the multivariate checks flushed at the end. Readings the engine would not
    score (not finite) are counted and logged.
    """
    engine = Engine(config, label)
    if not history:
        return []
    ids = np.concatenate([np.full(len(t), engine.stream_id(a, s), dtype=np.int64) for a, s, t, _ in history])
    ts = np.concatenate([t for _, _, t, _ in history])
    vals = np.concatenate([v for _, _, _, v in history])
    findings: list[Finding] = []
    rejected = 0
    for _, result in engine.replay(ids, ts, vals, step_ns, end_ns=end_ns, start_ns=start_ns):
        findings += result.findings
        rejected += len(result.rejected)
    if rejected:
        log.warning("backtest %s: %d stored readings were not scored (not finite)", label, rejected)
    return findings


def _when(f: Finding) -> datetime:
    end = f.evidence.get("window_end")
    return datetime.fromisoformat(end) if isinstance(end, str) else (f.ended_at or f.started_at)


def orders_of(findings: list[Finding], ticketing: TicketingConfig, sites: dict[str, str]) -> list[dict[str, Any]]:
    """Work orders the findings would have opened, through the real intake into a temporary store."""
    active = [f for f in findings if f.status in ("opened", "escalated")]
    if not active:
        return []
    with tempfile.TemporaryDirectory(prefix="faultline-backtest-") as tmp:
        store = WorkOrderStore(f"sqlite:///{Path(tmp) / 'orders.sqlite'}")
        try:
            active.sort(key=_when)
            clock = ManualClock(_when(active[0]))  # the intake's clock follows the findings' times
            intake = FindingIntake.from_config(ticketing, store, clock)
            for f in active:
                clock.set(_when(f))
                intake.receive(finding_in(f, f.site or sites.get(f.asset) or "default"))
            orders = store.orders()
        finally:
            store.close()
    return [
        {
            "site": o.site,
            "asset": o.asset,
            "fault_mode": o.fault_mode,
            "priority": o.priority,
            "service_type": o.service_type.value,
            "opened_at": o.opened_at.isoformat(),
            "response_due": o.response_due.isoformat() if o.response_due else None,
            "resolution_due": o.resolution_due.isoformat() if o.resolution_due else None,
            "findings": o.findings_received,
            "sla_hours": ((o.resolution_due - o.opened_at).total_seconds() / 3600) if o.resolution_due else 0.0,
        }
        for o in orders
    ]


def episodes(findings: list[Finding]) -> list[dict[str, Any]]:
    """One record per alert (its last state), in start order."""
    latest: dict[tuple, dict[str, Any]] = {}
    for f in findings:
        record = latest.setdefault((f.asset, f.sensor, f.rule, f.started_at), f.as_record())
        record.update(
            status=f.status, ended_at=f.ended_at.isoformat() if f.ended_at else record["ended_at"], severity=f.severity
        )
    return sorted(latest.values(), key=lambda r: r["started_at"])


def side(
    config: DetectorsConfig,
    label: str,
    history,
    end_ns: int,
    ticketing: TicketingConfig,
    sites: dict,
    client: Any = None,
) -> dict[str, Any]:
    if client is None:
        findings = replay(config, label, history, end_ns)
    else:
        from faultline.service.fanout import replay_by_asset

        findings = replay_by_asset(client, config, label, history, end_ns)
    eps = episodes(findings)
    orders = orders_of(findings, ticketing, sites)
    return {
        "config_version": label,
        "findings": len(eps),
        "findings_by_fault_mode": dict(Counter(e["fault_mode"] for e in eps)),
        "work_orders": orders,
        "work_order_count": len(orders),
        "sla_hours": round(sum(o["sla_hours"] for o in orders), 2),
        "episodes": eps,
    }


def backtest(
    reader,
    current: tuple[DetectorsConfig, str],
    proposed: tuple[DetectorsConfig, str],
    ticketing: TicketingConfig,
    start: datetime,
    end: datetime,
    client: Any = None,
) -> dict[str, Any]:
    """Compare two configurations over the stored readings of ``[start, end)`` (see the module docstring).
    With a Dask ``client`` the replays run on its cluster, an asset per task (`service.fanout`)."""
    start_ns = int(start.timestamp() * 1e6) * 1000
    end_ns = int(end.timestamp() * 1e6) * 1000
    history, sites = load_history(reader, start_ns, end_ns)
    now = side(*current, history, end_ns, ticketing, sites, client)
    new = side(*proposed, history, end_ns, ticketing, sites, client)

    def keys(s):
        return {(o["site"], o["asset"], o["fault_mode"]) for o in s["work_orders"]}

    only_now, only_new = keys(now) - keys(new), keys(new) - keys(now)
    return {
        "start": start.astimezone(UTC),
        "end": end.astimezone(UTC),
        "readings": int(sum(len(h[2]) for h in history)),
        "series": len(history),
        "current": now,
        "proposed": new,
        "only_current": [o for o in now["work_orders"] if (o["site"], o["asset"], o["fault_mode"]) in only_now],
        "only_proposed": [o for o in new["work_orders"] if (o["site"], o["asset"], o["fault_mode"]) in only_new],
    }


__all__ = ["backtest", "episodes", "load_history", "orders_of", "replay"]
