"""Shared fixtures: the real servers, started once per test session on free local ports.

A test that stops or restarts a server must own it: ask for ``own_mosquitto``, ``own_influxdb`` or
``own_victoria_metrics`` and it gets a fresh instance that nobody else uses.
"""

from __future__ import annotations

import pytest

from tests import servers


def _started(cls):
    try:
        return cls().start()
    except servers.ServerNotAvailable as exc:
        pytest.fail(f"{cls.name} could not start: {exc}")


@pytest.fixture(scope="session")
def mosquitto():
    server = _started(servers.Mosquitto)
    yield server
    server.close()


@pytest.fixture(scope="session")
def influxdb():
    server = _started(servers.InfluxDB)
    yield server
    server.close()


@pytest.fixture(scope="session")
def victoria_metrics():
    server = _started(servers.VictoriaMetrics)
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgresql():
    server = _started(servers.PostgreSQL)
    yield server
    server.close()


@pytest.fixture
def own_mosquitto():
    server = _started(servers.Mosquitto)
    yield server
    server.close()


@pytest.fixture
def own_influxdb():
    server = _started(servers.InfluxDB)
    yield server
    server.close()


@pytest.fixture
def own_victoria_metrics():
    server = _started(servers.VictoriaMetrics)
    yield server
    server.close()
