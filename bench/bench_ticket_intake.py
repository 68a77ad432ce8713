"""Findings into work orders: how many per second the store takes, against a bare insert baseline.

    .venv/bin/python -m bench.bench_ticket_intake [--findings 300] [--postgresql]

Both sides commit one transaction per finding into a fresh SQLite file (or a fresh schema on a
private PostgreSQL started via tests/servers.py), with the same durability settings.

* baseline: one INSERT of the finding's JSON into a one-table store, nothing else -- what any store
  of findings must at least pay;
* ours: ``FindingIntake.receive`` -- look up the open order, insert or update it under its lock,
  append the hash-chained audit entry (order before and after), compute SLA deadlines and choose an
  engineer. Two cases: every finding opens a new order (distinct assets), and every finding re-fires
  on an open order (same asset; evidence kept bounded at 50).

Prints findings/s and the cost ratio ours / baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from faultline.vocabulary import ManualClock
from faultline.ticketing.config import default_ticketing_config
from faultline.ticketing.findings import FindingIn, FindingIntake
from faultline.ticketing.store import WorkOrderStore

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def finding(asset: str, i: int) -> FindingIn:
    return FindingIn(
        site="north",
        asset=asset,
        sensor="vibration_rms",
        fault_mode="imbalance",
        severity="high",
        score=7.0 + i * 1e-3,
        started_at=T0,
        detector="iso20816",
        detector_version="1.2.0",
        rule="zone-c",
        config_version="cfg-7",
        thresholds={"alert": 7.1},
        evidence={"max": 7.9, "mean": 7.3, "n": 60},
    )


def baseline(url: str, findings: list[FindingIn]) -> float:
    engine = sa.create_engine(url)
    table = sa.Table(
        "findings",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("doc", sa.Text, nullable=False),
    )
    table.metadata.create_all(engine)
    docs = [f.as_evidence(T0).model_dump_json() for f in findings]
    start = time.perf_counter()
    for doc in docs:
        with engine.begin() as conn:
            conn.execute(table.insert().values(doc=doc))
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def ours(url: str, findings: list[FindingIn]) -> float:
    with WorkOrderStore(url) as store:
        intake = FindingIntake.from_config(default_ticketing_config(), store, ManualClock(T0))
        start = time.perf_counter()
        for f in findings:
            intake.receive(f)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=300)
    parser.add_argument("--postgresql", action="store_true", help="run against a private PostgreSQL")
    args = parser.parse_args()
    n = args.findings
    server = None
    if args.postgresql:
        from tests.servers import PostgreSQL
        from tests.ticketing.conftest import fresh_postgresql_url

        server = PostgreSQL().start()
        url_of = lambda name: fresh_postgresql_url(server)  # noqa: E731
    else:
        root = tempfile.mkdtemp(prefix="faultline-bench-")
        url_of = lambda name: f"sqlite:///{root}/{name}.db"  # noqa: E731
    try:
        base = baseline(url_of("baseline"), [finding(f"a{i}", i) for i in range(n)])
        new = ours(url_of("new"), [finding(f"a{i}", i) for i in range(n)])
        refire = ours(url_of("refire"), [finding("a0", i) for i in range(n)])
    finally:
        if server is not None:
            server.close()
    backend = "postgresql" if args.postgresql else "sqlite"
    print(f"{backend}, {n} findings, one transaction each")
    print(f"baseline bare insert:        {n / base:8.0f} findings/s")
    print(f"ours, each opens an order:   {n / new:8.0f} findings/s  ({new / base:.1f}x the baseline's cost)")
    print(f"ours, each re-fires:         {n / refire:8.0f} findings/s  ({refire / base:.1f}x the baseline's cost)")


if __name__ == "__main__":
    main()
