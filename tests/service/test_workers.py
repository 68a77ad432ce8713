"""One worker of those sharing a work-order store runs escalation and notifications; another takes
over when it goes. On SQLite the lock is a file lock beside the store; on PostgreSQL an advisory lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from faultline.service.leader import FileLeadership, PostgresLeadership, lock_key
from tests.service.conftest import T0, batch, service_settings


def test_one_file_lock_leader_and_the_next_takes_over(tmp_path):
    a = FileLeadership(tmp_path / "orders.sqlite.leader", retry_s=0)
    b = FileLeadership(tmp_path / "orders.sqlite.leader", retry_s=0)
    assert a.held() and not b.held()
    assert a.held() and not b.held()  # asking again changes nothing
    a.close()
    assert b.held() and not a.held()
    b.close()


def test_a_killed_leader_process_frees_the_file_lock(tmp_path):
    path = tmp_path / "orders.sqlite.leader"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from service.leader import FileLeadership; "
                f"l = FileLeadership({str(path)!r}); assert l.held(); print('leading', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "leading"
        waiting = FileLeadership(path, retry_s=0)
        assert not waiting.held()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert waiting.held()
        waiting.close()
    finally:
        child.kill()


@pytest.mark.servers
def test_postgres_advisory_lock_moves_when_the_leader_session_dies(postgresql):
    import psycopg

    key = lock_key(f"test:{time.monotonic_ns()}")  # advisory locks are per database: a key of our own
    a = PostgresLeadership(postgresql.url, retry_s=0, key=key)
    b = PostgresLeadership(postgresql.url, retry_s=0, key=key)
    try:
        assert a.held() and not b.held()
        pid = a._conn.info.backend_pid
        with psycopg.connect(
            postgresql.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))  # the leader's session ends
        assert b.held()
        assert not a.held()  # it notices, and the lock is b's now
        b.close()
        assert a.held()
    finally:
        a.close()
        b.close()


def _wait(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_two_workers_on_one_store_escalate_once_and_hand_over(tmp_path):
    from faultline.service.runtime import Runtime
    from faultline.vocabulary import ManualClock

    clock = ManualClock(datetime(2026, 11, 23, 9, tzinfo=UTC))
    store = f"sqlite:///{tmp_path / 'orders.sqlite'}"

    def worker(name: str) -> Runtime:
        settings = service_settings(tmp_path / name)
        settings = settings.model_copy(update={"ticketing": settings.ticketing.model_copy(update={"store_url": store})})
        return Runtime(settings, clock=clock).start(ingest=False)

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = worker("a")
    assert _wait(lambda: a.metrics.leader._value.get() == 1)
    b = worker("b")
    try:
        b.feed(batch("P-1", "bearing_temp", T0, [92, 95, 96]))  # b opens the order; a leads
        assert _wait(lambda: len(b.orders.orders()) == 1)
        order_id = b.orders.orders()[0].id
        clock.advance(timedelta(minutes=16))
        for w in (a, b):
            w.nudge()

        def keys():
            return [e.key for e in b.orders.get(order_id).escalations]

        assert _wait(lambda: len(keys()) >= 3)
        time.sleep(1.0)
        a.nudge(), b.nudge()
        time.sleep(1.0)
        assert keys() == ["response@0.75:notify_assignee", "response@1:reassign", "response@1:breach"]
        assert b.metrics.leader._value.get() == 0

        a.stop()
        a.close()  # the leader goes; b takes over within its retry interval
        assert _wait(lambda: b.metrics.leader._value.get() == 1)
        clock.advance(timedelta(days=3))
        b.nudge()
        assert _wait(lambda: any(k.startswith("resolution") for k in keys()))
        assert len(keys()) == len(set(keys()))  # no step fired twice across the hand-over
    finally:
        b.stop()
        b.close()


def test_run_refuses_a_round_robin_shared_subscription(tmp_path):
    from faultline.service.compose import StartupError, build_service

    settings = service_settings(tmp_path, mqtt={"subscribe": ["$share/workers/faultline/+/+/+"]})
    with pytest.raises(StartupError, match=r"mqtt.subscribe '\$share/workers/faultline/\+/\+/\+': a shared "):
        build_service(settings)
    sticky = service_settings(
        tmp_path, mqtt={"subscribe": ["$share/workers/faultline/+/+/+"]}, service={"shared_subscription": "sticky"}
    )
    build_service(sticky).runtime.close()


@pytest.mark.servers
def test_static_shards_each_worker_detects_only_its_own_streams(tmp_path, own_mosquitto):
    """Two workers, one site each (the static-shard mode): every reading reaches exactly one worker."""
    import json

    import paho.mqtt.client as mqtt

    from faultline.service.runtime import Runtime
    from faultline.simulators.publish import parse_broker

    workers = {}
    for site in ("north", "south"):
        (tmp_path / site).mkdir()
        settings = service_settings(
            tmp_path / site,
            mqtt={"url": own_mosquitto.url, "client_id": f"worker-{site}", "subscribe": [f"faultline/{site}/+/+"]},
        )
        workers[site] = Runtime(settings).start(ingest=True)
    try:
        for w in workers.values():
            assert _wait(lambda w=w: w.source.connected.is_set())
        host, port = parse_broker(own_mosquitto.url)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gateway", protocol=mqtt.MQTTv311)
        client.connect(host, port)
        client.loop_start()
        sent = {"north": 0, "south": 0}
        for i in range(30):
            for site, asset in (("north", "P-1"), ("south", "P-2"), ("south", "P-3")):
                client.publish(
                    f"faultline/{site}/{asset}/bearing_temp",
                    json.dumps({"ts": (T0 + 60 * i) * 1000, "value": 50.0 + i % 3}),
                    qos=1,
                ).wait_for_publish(5)
                sent[site] += 1
        client.disconnect()
        client.loop_stop()
        for site, w in workers.items():
            assert _wait(lambda w=w, site=site: w.metrics.detector_readings._value.get() >= sent[site])
        time.sleep(0.5)
        assert {site: int(w.metrics.detector_readings._value.get()) for site, w in workers.items()} == sent
        assert {a for a, _ in workers["north"].detection.latest} == {"P-1"}
        assert {a for a, _ in workers["south"].detection.latest} == {"P-2", "P-3"}
    finally:
        for w in workers.values():
            w.stop()
            w.close()


@pytest.mark.servers
def test_workers_starting_together_share_the_checkpoint_table(postgresql):
    """Three workers open the shared checkpoints at once: the table is created once, none fails."""
    from concurrent.futures import ThreadPoolExecutor

    from faultline.service.checkpoints import SharedCheckpoints
    from tests.ticketing.conftest import fresh_postgresql_url

    for _ in range(3):  # a race is likelier over a few tries; each try is a fresh schema
        url = fresh_postgresql_url(postgresql)
        with ThreadPoolExecutor(6) as pool:
            opened = list(pool.map(lambda shard, url=url: SharedCheckpoints(url, shard), [f"w{i}" for i in range(6)]))
        for cp in opened:
            cp.close()
