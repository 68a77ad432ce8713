"""Fixtures for the ticketing tests: a work-order store on SQLite and on a real PostgreSQL.

Each test gets an empty database: a new SQLite file, or its own PostgreSQL schema (selected through
the connection's ``search_path``) on the session's server.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from faultline.ticketing.store import WorkOrderStore

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Berlin


def fresh_postgresql_url(server) -> str:
    """A URL on ``server`` whose connections use a new, empty schema."""
    import sqlalchemy

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(server.url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    return f"{server.url}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/orders.db"
    return fresh_postgresql_url(request.getfixturevalue("postgresql"))


@pytest.fixture
def store(store_url):
    with WorkOrderStore(store_url) as s:
        yield s


def finding(asset="pump-1", fault_mode="imbalance", severity="high", started_at=T0, **fields):
    """A finding as the wiring would hand it over, with plausible evidence."""
    from faultline.ticketing.findings import FindingIn

    values = dict(
        site="north",
        asset=asset,
        sensor="vibration_rms",
        fault_mode=fault_mode,
        severity=severity,
        score=7.4,
        started_at=started_at,
        detector="iso20816",
        detector_version="1.2.0",
        rule="zone-c",
        config_version="cfg-7",
        thresholds={"alert": 7.1},
        evidence={"max": 7.9, "mean": 7.3, "n": 60},
    )
    values.update(fields)
    return FindingIn(**values)


@pytest.fixture
def config():
    from faultline.ticketing.config import TicketingConfig, default_ticketing_config

    base = default_ticketing_config()
    return TicketingConfig.model_validate({**base.model_dump(), "asset_criticality": {"pump-1": "A", "fan-9": "C"}})


@pytest.fixture
def clock():
    from faultline.vocabulary import ManualClock

    return ManualClock(T0)
