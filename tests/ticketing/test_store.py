"""The store on SQLite and a real PostgreSQL: round trips, the one-open-order constraint, migrations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ticketing.conftest import T0
from faultline.ticketing.models import Comment, Evidence, HoldPeriod, HoldReason, Status, WorkOrder
from faultline.ticketing.store import DuplicateOpenOrder, OrderNotFound, WorkOrderStore


def new_order(asset="pump-1", fault_mode="imbalance", **fields) -> WorkOrder:
    fields.setdefault("opened_at", T0)
    return WorkOrder(
        site="north", asset=asset, fault_mode=fault_mode, service_type="corrective", priority="P2", **fields
    )


def close(order: WorkOrder) -> WorkOrder:
    return order.model_copy(update={"status": Status.CLOSED, "closed_at": T0 + timedelta(hours=5)})


def test_an_order_round_trips_with_all_its_parts(store):
    order = new_order(
        evidence=[
            Evidence(
                sensor="vibration_rms",
                severity="high",
                score=7.5,
                started_at=T0,
                detector="iso20816",
                detector_version="1.0",
                rule="zone-c",
                config_version="abc123",
                thresholds={"alert": 7.1},
                readings={"max": 7.9, "n": 60},
                received_at=T0,
            )
        ],
        comments=[Comment(author="ana", at=T0, text="noisy bearing")],
        holds=[HoldPeriod(reason=HoldReason.AWAITING_PARTS, start=T0, end=T0 + timedelta(hours=1))],
        response_due=T0 + timedelta(hours=2),
    )
    saved = store.insert(order, actor="intake", at=T0).order
    assert saved.number == f"WO-{saved.id:06d}"
    loaded = store.get(saved.id)
    assert loaded == saved
    assert loaded.evidence[0].readings == {"max": 7.9, "n": 60}
    assert loaded.response_due == T0 + timedelta(hours=2) and loaded.response_due.tzinfo is not None


def test_second_open_order_for_same_asset_and_fault_is_refused_by_the_database(store):
    store.insert(new_order(), actor="intake", at=T0)
    with pytest.raises(DuplicateOpenOrder, match="pump-1"):
        store.insert(new_order(), actor="intake", at=T0)
    # another fault mode, or another asset, is another problem
    store.insert(new_order(fault_mode="misalignment"), actor="intake", at=T0)
    store.insert(new_order(asset="pump-2"), actor="intake", at=T0)
    assert len(store.orders()) == 3


def test_a_closed_order_frees_its_key_but_reopening_it_beside_a_new_one_is_refused(store):
    first = store.insert(new_order(), actor="intake", at=T0).order
    store.update(first.id, close, actor="sam", at=T0, action="close")
    second = store.insert(new_order(), actor="intake", at=T0).order
    assert store.find_open("north", "pump-1", "imbalance").id == second.id
    assert store.last_closed("north", "pump-1", "imbalance").id == first.id
    with pytest.raises(DuplicateOpenOrder):
        store.update(
            first.id, lambda o: o.model_copy(update={"status": Status.OPEN}), actor="x", at=T0, action="reopen"
        )
    assert store.get(first.id).status is Status.CLOSED  # the failed change left nothing behind


def test_update_that_raises_changes_nothing_and_audits_nothing(store):
    saved = store.insert(new_order(), actor="intake", at=T0).order

    def refuse(order):
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.update(saved.id, refuse, actor="x", at=T0, action="nothing")
    assert store.get(saved.id).version == 1
    assert [e.action for e in store.audit_entries()] == ["open"]


def test_update_bumps_version_and_reports_the_previous_status(store):
    saved = store.insert(new_order(), actor="intake", at=T0).order
    event = store.update(
        saved.id,
        lambda o: o.model_copy(update={"status": Status.ACKNOWLEDGED}),
        actor="ana",
        at=T0,
        action="acknowledge",
    )
    assert event.previous_status is Status.OPEN and event.order.version == 2
    assert event.id == f"{saved.number}.2"


def test_unknown_order_is_named(store):
    with pytest.raises(OrderNotFound, match="42"):
        store.get(42)


def test_workload_counts_only_unfinished_orders(store):
    store.insert(new_order(assignee="ana"), actor="intake", at=T0)
    store.insert(new_order(asset="pump-2", assignee="ana"), actor="intake", at=T0)
    done = store.insert(new_order(asset="pump-3", assignee="ben"), actor="intake", at=T0).order
    store.update(done.id, close, actor="ben", at=T0, action="close")
    assert store.open_orders_per_assignee() == {"ana": 2}


def test_reopening_a_store_keeps_data_and_does_not_migrate_twice(store_url):
    with WorkOrderStore(store_url) as s:
        s.insert(new_order(), actor="intake", at=T0)
    with WorkOrderStore(store_url) as s:
        assert len(s.orders()) == 1
        assert s.verify_audit() is None


def test_dead_letters_are_kept(store):
    store.add_dead_letter(adapter="webhook", event_id="WO-000001.1", at=T0, attempts=5, reason="HTTP 500", payload="{}")
    [letter] = store.dead_letters("webhook")
    assert letter["event_id"] == "WO-000001.1" and letter["attempts"] == 5 and letter["at"] == T0


def test_naive_times_are_refused(store):
    with pytest.raises(ValueError, match="timezone"):
        new_order(opened_at=T0.replace(tzinfo=None))
    saved = store.insert(new_order(), actor="intake", at=T0).order
    with pytest.raises(ValueError, match="naive"):
        store.update(saved.id, lambda o: o, actor="x", at=T0.replace(tzinfo=None), action="touch")


def test_adapter_cursors_start_at_zero_and_move(store):
    assert store.cursor("webhook") == 0
    store.advance_cursor("webhook", 3)
    store.advance_cursor("webhook", 5)
    assert store.cursor("webhook") == 5 and store.cursor("jira") == 0


def test_a_database_at_the_first_revision_is_upgraded_on_open(tmp_path):
    from sqlalchemy import create_engine

    from faultline.ticketing.store.repository import migrate

    url = f"sqlite:///{tmp_path}/old.db"
    engine = create_engine(url)
    with engine.begin() as conn:
        migrate(conn, "0001")
    engine.dispose()
    with WorkOrderStore(url) as s:
        s.advance_cursor("webhook", 1)  # a table of revision 0002
        assert s.cursor("webhook") == 1
