"""Two worker processes take the same findings at the same moment: still one order per problem.

The processes meet at a barrier and then race on the same (site, asset, fault mode) keys. Whatever the
interleaving, the store's unique index lets only one order per key exist; the loser of each race
re-reads and adds its evidence to the winner's order, and the audit chain stays one chain.
"""

from __future__ import annotations

import multiprocessing

from tests.ticketing.conftest import T0, finding
from faultline.ticketing.store import WorkOrderStore

ASSETS = [f"pump-{i}" for i in range(5)]


def worker(url: str, barrier, results) -> None:
    from faultline.vocabulary import ManualClock
    from faultline.ticketing.config import default_ticketing_config
    from faultline.ticketing.findings import FindingIntake

    with WorkOrderStore(url) as store:
        intake = FindingIntake.from_config(default_ticketing_config(), store, ManualClock(T0))
        barrier.wait(timeout=30)
        results.put([intake.receive(finding(asset=asset)).action for asset in ASSETS])


def test_two_processes_racing_create_exactly_one_order_per_problem(store_url):
    with WorkOrderStore(store_url) as store:  # migrate once, so the race is about orders, not tables
        pass
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=worker, args=(store_url, barrier, results)) for _ in range(2)]
    for p in workers:
        p.start()
    actions = [results.get(timeout=60) for _ in workers]
    for p in workers:
        p.join(timeout=30)
        assert p.exitcode == 0
    with WorkOrderStore(store_url) as store:
        orders = store.orders()
        assert sorted(o.asset for o in orders) == ASSETS
        assert all(len(o.evidence) == 2 for o in orders)  # nothing the loser saw was lost
        assert store.verify_audit() is None
        assert len(list(store.audit_entries())) == 2 * len(ASSETS)
    flat = sorted(a for per_worker in actions for a in per_worker)
    assert flat == sorted(["open"] * len(ASSETS) + ["add_evidence"] * len(ASSETS))


def open_store(url: str, barrier, results) -> None:
    barrier.wait(timeout=30)
    with WorkOrderStore(url) as store:
        results.put(store.cursor("none"))


def test_two_processes_opening_a_new_database_at_once_both_migrate_cleanly(store_url):
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=open_store, args=(store_url, barrier, results)) for _ in range(2)]
    for p in workers:
        p.start()
    assert [results.get(timeout=60) for _ in workers] == [0, 0]
    for p in workers:
        p.join(timeout=30)
        assert p.exitcode == 0
