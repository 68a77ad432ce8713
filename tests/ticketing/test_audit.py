"""The audit log: every change is chained; tampering with a stored row is found and named."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from tests.ticketing.conftest import T0
from tests.ticketing.test_store import new_order
from faultline.ticketing.audit import GENESIS, new_entry, verify
from faultline.vocabulary import ManualClock
from faultline.ticketing.models import Status


def three_changes(store):
    order = store.insert(new_order(), actor="intake", at=T0).order
    store.update(
        order.id,
        lambda o: o.model_copy(update={"status": Status.ACKNOWLEDGED}),
        actor="ana",
        at=T0,
        action="acknowledge",
    )
    store.update(order.id, lambda o: o.model_copy(update={"assignee": "ben"}), actor="mia", at=T0, action="assign")


def tamper(store, sql: str) -> None:
    engine = create_engine(store.url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def test_intact_chain_verifies_and_records_who_did_what(store):
    three_changes(store)
    entries = list(store.audit_entries())
    assert [(e.seq, e.actor, e.action) for e in entries] == [
        (1, "intake", "open"),
        (2, "ana", "acknowledge"),
        (3, "mia", "assign"),
    ]
    assert entries[0].prev_hash == GENESIS and entries[1].prev_hash == entries[0].hash
    # each entry records what changed: the opening sets every field, the rest only theirs
    assert json.loads(entries[1].change) == {"set": {"status": "acknowledged", "version": 2}}
    assert json.loads(entries[2].change) == {"set": {"assignee": "ben", "version": 3}}
    assert entries[0].before is entries[0].after is None and json.loads(entries[0].change)["set"]["site"] == "north"
    assert store.verify_audit() is None


def test_altered_row_is_found(store):
    three_changes(store)
    tamper(store, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    broken = store.verify_audit()
    assert broken.seq == 2 and "altered" in broken.reason


def test_altered_change_is_found(store):
    three_changes(store)
    tamper(store, "UPDATE audit_log SET change = REPLACE(change, '\"ben\"', '\"eve\"') WHERE seq = 3")
    assert store.verify_audit().seq == 3


@pytest.mark.parametrize(
    "sql, says",
    [
        ("UPDATE work_orders SET status = 'closed'", "column status is 'closed' in the table but 'acknowledged'"),
        ("UPDATE work_orders SET doc = REPLACE(doc, '\"ben\"', '\"eve\"')", "differs from its audit log"),
        ("DELETE FROM work_orders", "not in the table (row deleted)"),
    ],
)
def test_an_order_row_edited_behind_the_log_is_found(store, sql, says):
    three_changes(store)
    assert store.verify_audit() is None
    tamper(store, sql)
    broken = store.verify_audit()
    assert broken is not None and says in broken.reason and "WO-000001" in broken.reason


def test_an_order_inserted_behind_the_log_is_found(store):
    three_changes(store)
    tamper(
        store,
        "INSERT INTO work_orders (site, asset, fault_mode, status, priority, service_type, opened_at, "
        "version, doc) SELECT site, asset, 'other', status, priority, service_type, opened_at, version, doc "
        "FROM work_orders",
    )
    assert "WO-000002 is in the table but no audit entry made it" in store.verify_audit().reason


def test_the_log_grows_with_the_change_not_with_the_order(store):
    """Six comments of 500 kB: the log holds each comment once (about 3 MB), where whole snapshots
    before and after every change held 2 + 4 + ... + 12 copies (about 21 MB on the base commit)."""
    from faultline.ticketing.lifecycle import Actor, Lifecycle

    life = Lifecycle(ManualClock(T0))
    order = store.insert(new_order(), actor="intake", at=T0).order
    text500k = "x" * 500_000
    for n in range(6):
        store.update(
            order.id,
            lambda o, n=n: life.comment(o, Actor("ana", "mid_engineer"), f"{n}{text500k}"),
            actor="ana",
            at=T0,
            action="comment",
        )
    size = sum(len(e.change or "") + len(e.before or "") + len(e.after or "") for e in store.audit_entries())
    print(f"\naudit log after six 500 kB comments: {size:,} bytes of JSON")
    assert 6 * 500_000 < size < 6 * 500_000 + 20_000
    assert store.verify_audit() is None
    assert len(store.get(order.id).comments) == 6


def test_deleted_middle_row_is_found(store):
    three_changes(store)
    tamper(store, "DELETE FROM audit_log WHERE seq = 2")
    broken = store.verify_audit()
    assert broken.seq == 3 and "missing" in broken.reason


def test_deleted_newest_row_is_found_through_the_head(store):
    three_changes(store)
    tamper(store, "DELETE FROM audit_log WHERE seq = 3")
    broken = store.verify_audit()
    assert broken is not None and "head" in broken.reason


def test_rehashing_one_row_still_breaks_the_next_link():
    first = new_entry(0, GENESIS, at=T0, actor="a", action="open", order_id=1, before=None, after={"x": 1})
    second = new_entry(1, first.hash, at=T0, actor="b", action="assign", order_id=1, before={"x": 1}, after={"x": 2})
    forged = new_entry(0, GENESIS, at=T0, actor="eve", action="open", order_id=1, before=None, after={"x": 1})
    assert verify([first, second]) is None
    assert verify([forged, second]).seq == 2


def test_verify_of_empty_log_against_empty_head_is_intact():
    assert verify([], head=(0, GENESIS)) is None


def test_verify_audit_command_exits_1_naming_the_broken_entry(store):
    from typer.testing import CliRunner

    from faultline.service.cli import app

    three_changes(store)
    ok = CliRunner().invoke(app, ["tickets", "verify-audit", "--store", store.url])
    assert ok.exit_code == 0 and "intact: 3 entries" in ok.output
    tamper(store, "UPDATE audit_log SET action = 'close' WHERE seq = 2")
    broken = CliRunner().invoke(app, ["tickets", "verify-audit", "--store", store.url])
    assert broken.exit_code == 1 and "entry 2" in broken.output


def test_verify_reads_the_log_in_pages(store):
    three_changes(store)
    assert [e.seq for e in store._paged_entries(page=2)] == [1, 2, 3]
    tamper(store, "DELETE FROM audit_log WHERE seq = 2")
    assert [e.seq for e in store._paged_entries(page=1)] == [1, 3]


def test_entries_written_before_0004_whole_orders_still_replay(store):
    """A log from before changes were recorded holds whole orders before and after: verify-audit and
    the notification outbox read it as they read the new entries, and new entries chain on."""
    from faultline.ticketing.audit import AuditEntry, canonical_json, chain_hash

    opened = new_order().model_copy(update={"id": 1, "version": 1})
    acknowledged = opened.model_copy(update={"status": Status.ACKNOWLEDGED, "version": 2})
    prev, rows = GENESIS, []
    for seq, (action, before, after) in enumerate([("open", None, opened), ("acknowledge", opened, acknowledged)], 1):
        draft = AuditEntry(
            seq,
            T0,
            "old",
            action,
            1,
            before and canonical_json(before.snapshot()),
            canonical_json(after.snapshot()),
            prev,
            "",
        )
        prev = chain_hash(prev, draft.body())
        rows.append({**{k: getattr(draft, k) for k in AuditEntry.__slots__}, "hash": prev})
    engine = create_engine(store.url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO work_orders (id, site, asset, fault_mode, status, priority, service_type, "
                "opened_at, version, doc) VALUES (1, 'north', 'pump-1', 'imbalance', 'acknowledged', 'P2', "
                "'corrective', :at, 2, :doc)"
            ),
            {"at": T0.replace(tzinfo=None), "doc": acknowledged.model_dump_json()},
        )
        for row in rows:
            conn.execute(
                text(
                    "INSERT INTO audit_log (seq, at, actor, action, order_id, before, after, prev_hash, hash) "
                    "VALUES (:seq, :at, :actor, :action, :order_id, :before, :after, :prev_hash, :hash)"
                ),
                {**row, "at": T0.replace(tzinfo=None)},
            )
        conn.execute(text("UPDATE audit_head SET seq = 2, hash = :h"), {"h": prev})
    engine.dispose()
    assert store.verify_audit() is None
    [(_, first), (_, second)] = store.audit_events()
    assert (first.previous_status, second.previous_status, second.order.status) == (
        None,
        Status.OPEN,
        Status.ACKNOWLEDGED,
    )
    store.update(1, lambda o: o.model_copy(update={"assignee": "ben"}), actor="mia", at=T0, action="assign")
    assert store.verify_audit() is None and json.loads(store.audit_entries()[-1].change)["set"]["assignee"] == "ben"
