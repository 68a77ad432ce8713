"""Three `faultline run` workers (separate processes), one asset each, on a real Mosquitto, InfluxDB
and PostgreSQL, with the simulator publishing the quick-start fleet. The worker of the failing pump
is killed with SIGKILL mid-stream and its shard started again as a new process with a fresh local
folder (another machine): its detector state comes back from PostgreSQL, its broker session and
spool hand over what it had not written. Checked: every published reading stored once, one work
order for the one fault, its `opened` webhook delivered once, and the new worker restored its state
instead of learning the streams again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ingest.publishing import create_session, wait_for
from tests.servers import free_port
from tests.ticketing.conftest import fresh_postgresql_url
from tests.ticketing.test_dispatcher import SECRET, IdempotentReceiver

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[2]
SHARDS = {"w1": "P-101", "w2": "P-102", "w3": "M-101"}


def worker_config(tmp_path: Path, name: str, local: str, mosquitto, influxdb, pg_url: str) -> Path:
    """Worker ``name``'s file; ``local`` is the folder only this process uses (its 'machine')."""
    asset = SHARDS[name]
    ticketing = yaml.safe_load((ROOT / "config/ticketing.yaml").read_text())["ticketing"]
    ticketing["store_url"] = pg_url
    detectors = yaml.safe_load((ROOT / "config/detectors.yaml").read_text())["detectors"]
    folder = tmp_path / local
    folder.mkdir(exist_ok=True)
    config = {
        "mqtt": {
            "url": mosquitto.url,
            "client_id": f"faultline-{name}",
            "subscribe": [f"faultline/north/{asset}/+"],
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 1,
        },
        "store": {
            "kind": "influxdb",
            "url": influxdb.url,
            "api": "v1",
            "database": "workers",
            "retry_min_s": 0.1,
            "retry_max_s": 1,
        },
        "spool": {"path": str(tmp_path / f"spool-{name}")},  # the one folder the shard keeps: a shared volume
        "ingest": {"dead_letter_path": str(folder / "dead.sqlite")},
        "metrics": {"port": 0},
        "service": {
            "port": free_port(),
            "state_path": str(folder / "service.sqlite"),
            "state_url": pg_url,
            "shard": name,
            "save_state_every_s": 0.5,
        },
        "ticketing": ticketing,
        "detectors": detectors,
    }
    path = folder / "faultline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path, env: dict) -> subprocess.Popen:
    log = open(config.with_suffix(".log"), "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "faultline.service.cli", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


def stored(influxdb) -> dict[str, int]:
    answer = influxdb.query("SELECT count(value) FROM telemetry GROUP BY asset", "workers")
    return {s["tags"]["asset"]: s["values"][0][1] for s in answer["results"][0].get("series", [])}


def test_three_workers_one_killed_and_restarted_elsewhere(tmp_path, own_mosquitto, own_influxdb, postgresql):
    import sqlalchemy

    pg_url = fresh_postgresql_url(postgresql)
    receiver = IdempotentReceiver()
    receiver.up()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FAULTLINE_WEBHOOK_URL": receiver.url,
        "FAULTLINE_WEBHOOK_SECRET": SECRET,
        "FAULTLINE_SMTP_HOST": "",
    }
    own_influxdb.query("CREATE DATABASE workers")
    for name, asset in SHARDS.items():  # the sessions exist before the gateways publish
        create_session(own_mosquitto.port, f"faultline-{name}", filters=(f"faultline/north/{asset}/+",))
    configs = {name: worker_config(tmp_path, name, f"{name}-a", own_mosquitto, own_influxdb, pg_url) for name in SHARDS}
    workers = {name: start(path, env) for name, path in configs.items()}
    try:
        for path in configs.values():
            wait_for(lambda p=path: "ingesting" in p.with_suffix(".log").read_text(), 90, f"{path.parent.name}")
        simulate = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "faultline.service.cli",
                "simulate",
                "--config",
                str(ROOT / "config/fleet-quickstart.yaml"),
                "--duration",
                "12h",
                "--speed",
                "2400",
                "--broker",
                own_mosquitto.url,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        engine = sqlalchemy.create_engine(pg_url)

        def saved_state(shard: str):
            with engine.connect() as conn:
                return conn.exec_driver_sql(
                    "SELECT count(*) FROM faultline_detector_state WHERE shard = %(s)s", {"s": shard}
                ).scalar()

        # mid-stream (12 simulated hours published over 18 s): P-101's worker has stored part of its
        # stream and saved its state once
        wait_for(lambda: stored(own_influxdb).get("P-101", 0) > 100 and saved_state("w1"), 120, "P-101 under way")
        workers["w1"].send_signal(signal.SIGKILL)
        workers["w1"].wait(10)
        before = stored(own_influxdb).get("P-101", 0)
        replacement = worker_config(tmp_path, "w1", "w1-b", own_mosquitto, own_influxdb, pg_url)
        workers["w1"] = start(replacement, env)
        output, _ = simulate.communicate(timeout=300)
        assert simulate.returncode == 0, output
        published = int(re.search(r"\((\d+) readings\)", output).group(1))

        wait_for(lambda: sum(stored(own_influxdb).values()) >= published, 120, "every reading stored")
        counts = stored(own_influxdb)
        assert sum(counts.values()) == published and set(counts) == set(SHARDS.values())
        assert before < counts["P-101"]  # the kill did interrupt P-101's stream

        def orders():
            with engine.connect() as conn:
                return conn.exec_driver_sql("SELECT asset, fault_mode FROM work_orders").all()

        wait_for(lambda: orders(), 60, "the work order")
        wait_for(lambda: receiver.applied, 60, "the opened webhook")
        assert [tuple(o) for o in orders()] == [("P-101", "high_vibration")]
        log_b = replacement.with_suffix(".log").read_text()
        assert "detector state restored" in log_b
        print(
            f"workers: {published} readings published, P-101 had {before} stored when its worker died; "
            f"stored {counts}; orders {orders()}; webhooks {len(receiver.got)} sent, "
            f"{len(receiver.applied)} applied"
        )
        assert len(receiver.applied) == len(receiver.got)
    finally:
        if "engine" in locals():
            engine.dispose()
        for w in workers.values():
            w.send_signal(signal.SIGTERM)
        for w in workers.values():
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        receiver.down()
