"""The runtime's escalation scheduler fires on the orders the intake opened, as its clock passes the steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.service.conftest import T0, batch, service_settings


def test_unacknowledged_p1_escalates_and_survives_restart(tmp_path):
    from faultline.service.runtime import Runtime
    from faultline.vocabulary import ManualClock

    clock = ManualClock(datetime(2026, 11, 23, 9, tzinfo=UTC))
    settings = service_settings(tmp_path)
    runtime = Runtime(settings, clock=clock)
    runtime.detection.handle(batch("P-1", "bearing_temp", T0, [92, 95, 96]))
    order = runtime.orders.orders()[0]
    assert order.priority == "P1"  # 15 min response: 75 % reminds the assignee, 100 % reassigns
    assert runtime.scheduler.tick() == []
    clock.advance(timedelta(minutes=12))
    fired = [a.key for _, a in runtime.scheduler.tick()]
    assert fired == ["response@0.75:notify_assignee"]
    assert runtime.scheduler.tick() == []
    runtime.close()

    again = Runtime(settings, clock=clock)  # fired steps are read back from the order's comments
    clock.advance(timedelta(minutes=4))
    fired = [a.key for _, a in again.scheduler.tick()]
    assert fired == ["response@1:reassign", "response@1:breach"]  # the breach is a notice of its own
    comments = [c.text for c in again.orders.get(order.id).comments]
    assert [c.split(":")[0] for c in comments] == [
        "escalation response@0.75",
        "escalation response@1",
        "escalation response@1",
    ]
    assert [e.key for e in again.orders.get(order.id).escalations] == [
        "response@0.75:notify_assignee",
        "response@1:reassign",
        "response@1:breach",
    ]
    assert "faultline_escalations_total 2.0" in _metrics(again)
    again.close()


def test_escalation_thread_fires_without_deadlock(tmp_path):
    import time

    from faultline.service.runtime import Runtime
    from faultline.vocabulary import ManualClock

    clock = ManualClock(datetime(2026, 11, 23, 9, tzinfo=UTC))
    runtime = Runtime(service_settings(tmp_path), clock=clock).start(ingest=False)
    try:
        runtime.feed(batch("P-1", "bearing_temp", T0, [92, 95, 96]))
        deadline = time.monotonic() + 20
        while not runtime.orders.orders() and time.monotonic() < deadline:
            time.sleep(0.05)
        clock.advance(timedelta(minutes=16))
        runtime._wake.set()
        while time.monotonic() < deadline and len(runtime.orders.orders()[0].escalations) < 3:
            time.sleep(0.05)
        assert [e.key for e in runtime.orders.orders()[0].escalations] == [
            "response@0.75:notify_assignee",
            "response@1:reassign",
            "response@1:breach",
        ]
    finally:
        runtime.stop()
        runtime.close()


def _metrics(runtime) -> str:
    from prometheus_client import generate_latest

    return generate_latest(runtime.metrics.registry).decode()
