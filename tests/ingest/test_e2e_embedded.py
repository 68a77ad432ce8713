"""The embedded default: no broker answering → an in-process amqtt broker (MQTT 3.1.1) and SQLite.

Runs on a free port, never the machine's 1883.
"""

import socket

import orjson
import pytest

from faultline.ingest.broker import EmbeddedBroker, broker_answers
from faultline.ingest.writers import SqliteStore
from faultline.service.settings import Settings
from tests.ingest.publishing import Running, publish, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.servers


def embedded_settings(tmp_path, port: int) -> Settings:
    base = Settings()  # what `faultline ingest` without --config uses
    return base.model_copy(
        update={
            "mqtt": base.mqtt.model_copy(update={"url": f"mqtt://127.0.0.1:{port}", "reconnect_min_s": 0.1}),
            "store": base.store.model_copy(update={"path": str(tmp_path / "var" / "readings.sqlite")}),
            "spool": base.spool.model_copy(update={"path": str(tmp_path / "var" / "spool")}),
            "ingest": base.ingest.model_copy(update={"dead_letter_path": str(tmp_path / "var" / "dead-letter.sqlite")}),
            "metrics": base.metrics.model_copy(update={"port": 0}),
        }
    )


def reading(i: int) -> tuple[str, bytes]:
    return "faultline/demo/pump1/bearing_temp", orjson.dumps({"ts": 1763700000000 + i, "value": i})


def test_without_a_broker_one_is_started_in_process_and_readings_land_in_sqlite(tmp_path):
    port = free_port()
    assert not broker_answers("127.0.0.1", port)
    settings = embedded_settings(tmp_path, port)
    assert settings.store.kind == "sqlite"
    with Running(settings, embedded_broker=True):
        wait_for(lambda: broker_answers("127.0.0.1", port), 20, "the embedded broker")
        store = SqliteStore(settings.store.path)

        def count():
            return len(store.query("pump1", "bearing_temp", 0, 2**62))

        # the broker keeps no session before the ingester's first subscription: probe until it is there
        wait_for(lambda: publish(port, [reading(0)]) or count() == 1, 30, "the ingester to subscribe", interval=0.3)
        publish(port, [reading(i) for i in range(1, 500)])
        wait_for(lambda: count() == 500, 30, "500 readings in SQLite")
    assert sorted(store.query("pump1", "bearing_temp", 0, 2**62).value.tolist()) == list(range(500))
    assert not broker_answers("127.0.0.1", port), "the embedded broker stops with the ingester"


def test_a_broker_that_answers_is_used_instead(mosquitto, tmp_path):
    settings = embedded_settings(tmp_path, mosquitto.port)
    with Running(settings, embedded_broker=True):
        store_path = settings.store.path
        wait_for(
            lambda: (
                publish(mosquitto.port, [reading(7)])
                or (SqliteStore(store_path).query("pump1", "bearing_temp", 0, 2**62).value.tolist() == [7.0])
            ),
            30,
            "a reading through Mosquitto",
            interval=0.3,
        )


def test_embedded_broker_refuses_a_taken_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(RuntimeError, match="could not start"):
            EmbeddedBroker("127.0.0.1", taken.getsockname()[1]).start()


def test_faultline_ingest_without_config_runs_the_embedded_default(tmp_path):
    """The newcomer's command, on a free port: a broker in process, readings in ./var/readings.sqlite."""
    import signal
    import subprocess
    import sys

    port = free_port()
    log = tmp_path / "ingest.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "faultline.service.cli",
                "ingest",
                "--mqtt-url",
                f"mqtt://127.0.0.1:{port}",
                "--metrics-port",
                "0",
            ],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: broker_answers("127.0.0.1", port), 60, "the embedded broker")
        readings = tmp_path / "var" / "readings.sqlite"
        wait_for(
            lambda: (
                publish(port, [reading(42)])
                or (readings.exists() and SqliteStore(readings).query("pump1", "bearing_temp", 0, 2**62).value.tolist())
            ),
            60,
            "a reading in var/readings.sqlite",
            interval=0.5,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text()[-3000:]
    assert (tmp_path / "var" / "spool").is_dir()
    assert "started the embedded MQTT 3.1.1 broker" in log.read_text()
