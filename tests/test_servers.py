"""The harness itself: each real server starts on its own port, answers, and survives a restart."""

import socket

import pytest

pytestmark = pytest.mark.servers


def test_mosquitto_accepts_connections_and_restarts(own_mosquitto):
    own_mosquitto.restart()
    with socket.create_connection(("127.0.0.1", own_mosquitto.port), timeout=2):
        pass


def test_influxdb_answers_queries(influxdb):
    influxdb.create_database("harness")
    names = influxdb.query("SHOW DATABASES")["results"][0]["series"][0]["values"]
    assert ["harness"] in names


def test_victoria_metrics_accepts_v2_writes(victoria_metrics):
    import urllib.request

    req = urllib.request.Request(
        f"{victoria_metrics.url}/api/v2/write?bucket=b&org=o",
        data=b"harness,site=s value=2.5 1763700000123000000",
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 204
    series = victoria_metrics.export('{__name__="harness_value"}')
    assert series and series[0]["values"] == [2.5]


def test_postgresql_answers(postgresql):
    out = postgresql._psql("select 40 + 2", db="faultline")
    assert out.returncode == 0 and out.stdout.strip() == "42"
    postgresql.restart()
    assert postgresql._accepts_queries()
