"""`faultline ingest` as a process, killed with SIGKILL mid-stream and started again: nothing is lost.

A reading is acknowledged to the broker only once it is fsync'd in the spool, and confirmed in the
spool only once InfluxDB took it. Whatever the kill interrupts is either still with the broker (not
acknowledged) or in the spool (replayed on start); a replay rewrites identical points, which
InfluxDB stores once.
"""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.ingest.publishing import create_session, publish, wait_for
from tests.ingest.test_e2e_influx import influx_count, influx_points, stream

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path, mosquitto, influxdb, database, client_id) -> Path:
    config = {
        "mqtt": {"url": mosquitto.url, "client_id": client_id, "reconnect_min_s": 0.1, "reconnect_max_s": 1},
        "store": {
            "kind": "influxdb",
            "url": influxdb.url,
            "api": "v1",
            "database": database,
            "batch_size": 500,
            "retry_min_s": 0.1,
            "retry_max_s": 1,
        },
        "spool": {"path": str(tmp_path / "spool")},
        "ingest": {"dead_letter_path": str(tmp_path / "dead-letter.sqlite")},
        "metrics": {"port": 0},
    }
    path = tmp_path / "faultline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "faultline.service.cli", "ingest", "--config", str(config)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_started(log: Path, runs: int) -> None:
    """Wait until run number ``runs`` logged that it is ingesting (its signal handlers are in place).

    The runs before it may have written everything already, so "all readings are in" does not mean
    the last process got that far; a signal sent earlier would kill it with the default action.
    """
    wait_for(
        lambda: log.read_text().count("INFO faultline.ingest.pipeline: ingesting ") >= runs, 60, f"run {runs} to start"
    )


def test_sigkill_mid_stream_then_restart_loses_nothing(mosquitto, influxdb, tmp_path):
    db = "sigkill"
    n = 10_000
    config = write_config(tmp_path, mosquitto, influxdb, db, "e2e-sigkill")
    create_session(mosquitto.port, "e2e-sigkill")
    log = tmp_path / "ingest.log"
    proc = start(config, log)
    publisher = threading.Thread(target=publish, args=(mosquitto.port, stream(n)))
    publisher.start()
    try:
        wait_for(lambda: influx_count(influxdb, db) > 1_000, 60, "the stream to be under way")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = influx_count(influxdb, db)
        publisher.join(120)
        assert killed_at < n, "the kill came too late to test anything"
        proc = start(config, log)
        wait_for(lambda: influx_count(influxdb, db) == n, 90, f"all {n} readings after the restart")
    finally:
        publisher.join(120)
        try:
            if proc.poll() is None:
                wait_started(log, 2)
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(30) == 0, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:  # a failed test leaves no ingester running behind it
                proc.kill()
                proc.wait(10)
    values = sorted(v for _, _, v in influx_points(influxdb, db))
    assert values == list(range(n))


def test_sigterm_flushes_and_exits_zero(mosquitto, influxdb, tmp_path):
    db = "sigterm"
    config = write_config(tmp_path, mosquitto, influxdb, db, "e2e-sigterm")
    create_session(mosquitto.port, "e2e-sigterm")
    publish(mosquitto.port, stream(3000))
    log = tmp_path / "ingest.log"
    proc = start(config, log)
    wait_for(lambda: influx_count(influxdb, db) > 0, 60, "writing to start")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(30) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "SIGTERM: stopping" in text
    # whatever was acknowledged is written (flushed) or still in the spool; the rest is with the broker
    proc = start(config, log)
    wait_for(lambda: influx_count(influxdb, db) == 3000, 60, "the rest after a restart")
    wait_started(log, 2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0


SOAK = os.environ.get("FAULTLINE_SOAK") == "1"


@pytest.mark.slow
def test_soak_repeated_kills_and_a_store_outage_lose_nothing(mosquitto, own_influxdb, tmp_path):
    """Short by default; FAULTLINE_SOAK=1 streams 200,000 readings through five kills."""
    n, kills = (200_000, 5) if SOAK else (4_000, 1)
    db = "soak"
    config = write_config(tmp_path, mosquitto, own_influxdb, db, "e2e-soak")
    create_session(mosquitto.port, "e2e-soak")
    log = tmp_path / "ingest.log"
    publisher = threading.Thread(target=publish, args=(mosquitto.port, stream(n, asset="soak")))
    publisher.start()
    proc = start(config, log)
    try:
        for k in range(kills):
            wait_for(lambda k=k: influx_count(own_influxdb, db) > (k + 1) * n // (kills + 2), 120, f"progress {k}")
            if k == 0:  # an outage of the store, too, with readings spooled meanwhile
                own_influxdb.stop()
                wait_for(lambda: len(list((tmp_path / "spool").glob("*.seg"))) > 0, 10, "spooling")
                own_influxdb.start()
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc = start(config, log)
        publisher.join(600)
        wait_for(lambda: influx_count(own_influxdb, db) == n, 300, f"all {n} readings")
    finally:
        publisher.join(600)
        if proc.poll() is None:
            wait_started(log, kills + 1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, log.read_text()[-3000:]
    assert sorted(v for _, _, v in influx_points(own_influxdb, db)) == list(range(n))
