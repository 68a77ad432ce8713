"""Shared fixtures: the real servers, started once per test session on free local ports.

A test that stops or restarts a server must own it: ask for ``own_mosquitto``, ``own_influxdb`` or
``own_victoria_metrics`` and it gets a fresh instance that nobody else uses.
"""

from __future__ import annotations

import pytest

from tests import servers


def _server_fixture(cls: type, scope: str):
    """A fixture that starts ``cls`` for its scope and removes it (and its directory) afterwards."""

    @pytest.fixture(scope=scope)
    def fixture():
        try:
            server = cls().start()
        except servers.ServerNotAvailable as exc:
            pytest.fail(f"{cls.name} could not start: {exc}")
        yield server
        server.close()

    return fixture


mosquitto = _server_fixture(servers.Mosquitto, "session")
influxdb = _server_fixture(servers.InfluxDB, "session")
victoria_metrics = _server_fixture(servers.VictoriaMetrics, "session")
postgresql = _server_fixture(servers.PostgreSQL, "session")
moto_s3 = _server_fixture(servers.MotoS3, "session")

own_mosquitto = _server_fixture(servers.Mosquitto, "function")
own_influxdb = _server_fixture(servers.InfluxDB, "function")
own_victoria_metrics = _server_fixture(servers.VictoriaMetrics, "function")
