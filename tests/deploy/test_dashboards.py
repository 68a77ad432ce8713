"""The Grafana dashboards: they parse, name provisioned datasources, use metrics Faultline exports,
and their InfluxQL and SQL queries run against real servers holding data.

Grafana's macros are replaced the way Grafana expands them for a 6-hour window with every value of a
variable selected (``$timeFilter`` → ``time >= now() - 6h``, ``$__interval`` → ``1m``, a multi-value
variable with ``allValue`` ``.*`` → ``.*``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
DATABASE = "faultline"  # the DBRP mapping's database in the compose stack


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in DASHBOARDS}


def targets(kind: str) -> list[tuple[str, str, dict]]:
    """(dashboard, panel title, target) of every target on a datasource of type ``kind``."""
    return [
        (name, panel["title"], t)
        for name, d in dashboards().items()
        for panel in d["panels"]
        for t in panel["targets"]
        if t["datasource"]["type"] == kind
    ]


def influx_queries() -> list[tuple[str, str]]:
    panels = [(f"{name}: {title}", t["query"]) for name, title, t in targets("influxdb")]
    variables = [
        (f"{name}: ${v['name']}", v["query"])
        for name, d in dashboards().items()
        for v in d["templating"]["list"]
        if v["datasource"]["type"] == "influxdb"
    ]
    return panels + variables


def test_there_are_the_three_dashboards_and_each_parses():
    assert [p.name for p in DASHBOARDS] == ["fleet-overview.json", "ingest-health.json", "work-orders.json"]
    for name, d in dashboards().items():
        assert d["uid"] and d["panels"], name
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"


def test_every_panel_names_a_provisioned_datasource():
    provisioned = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/faultline.yaml").read_text())
    uids = {d["uid"]: d["type"] for d in provisioned["datasources"]}
    for name, d in dashboards().items():
        for panel in d["panels"]:
            for t in [panel, *panel["targets"]]:
                ds = t["datasource"]
                assert uids.get(ds["uid"]) == ds["type"], f"{name}: {panel['title']}: {ds} is not provisioned"


def exported_series(metrics_text: str) -> set[str]:
    """The series names a scrape of this text can hold, from each family's ``# TYPE`` line (a labelled
    family with no child yet has no samples, but Prometheus sees them once it has one). The text
    format names a counter's family with its ``_total``."""
    suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", "")}
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", metrics_text, re.M):
        names |= {name + s for s in suffixes.get(kind, ("",))}
    return names


def test_every_prometheus_metric_a_panel_uses_is_on_faultlines_metrics_page(tmp_path):
    from fastapi.testclient import TestClient

    from faultline.service.app import create_app
    from faultline.service.runtime import Runtime
    from tests.service.conftest import service_settings

    settings = service_settings(tmp_path)
    runtime = Runtime(settings)
    try:
        with TestClient(create_app(settings, runtime)) as client:
            page = client.get("/metrics")
    finally:
        runtime.close()
    assert page.status_code == 200
    exported = exported_series(page.text)
    used = {
        m: f"{name}: {title}"
        for name, title, t in targets("prometheus")
        for m in re.findall(r"\bfaultline_[a-z_]+", t["expr"])
    }
    assert len(used) >= 20
    missing = {m: where for m, where in used.items() if m not in exported}
    assert not missing, f"panels use metrics Faultline does not export: {missing}"


def grafana_influxql(q: str) -> str:
    q = q.replace("$timeFilter", "time >= now() - 6h").replace("$__interval", "1m")
    return re.sub(r"\$(asset|sensor)\b", ".*", q)


@pytest.fixture
def influx_with_simulator_data(own_influxdb):
    """An hour of the shipped fleet's P-101 and F-201 (scalars and acceleration blocks), decoded and written
    by ingest's own decoder and writer into the database the compose stack's DBRP mapping names."""
    from faultline.ingest.codecs import Decoder
    from faultline.ingest.writers.influx_v1 import InfluxV1Writer
    from faultline.service.settings import default_detectors_config
    from faultline.service.waveforms import waveform_features
    from faultline.simulators import Fleet, simulate_offline
    from faultline.simulators.publish import run_messages

    fleet = Fleet.from_yaml(ROOT / "config/fleet.yaml")
    fleet = fleet.model_copy(update={"assets": [a for a in fleet.assets if a.id in ("P-101", "F-201")]})
    start = (datetime.now(UTC) - timedelta(hours=1, minutes=5)).replace(second=0, microsecond=0)
    run = simulate_offline(fleet, seed=3, start=start, duration=timedelta(hours=1))
    messages, _ = run_messages(run)
    start_ns = int(start.timestamp() * 1e9)
    decoder = Decoder(
        "faultline/{site}/{asset}/{sensor}", waveform_features=waveform_features(default_detectors_config)
    )
    readings, rejected = decoder.decode_many([(m.topic, m.payload, start_ns + m.at_ns) for m in messages])
    assert len(readings) > 200 and not rejected, rejected[:3]
    writer = InfluxV1Writer(own_influxdb.url, DATABASE, create_database=True)
    try:
        result = writer.write(readings)
    finally:
        writer.close()
    assert not result.rejected
    return own_influxdb


@pytest.mark.servers
def test_every_influxql_query_runs_and_returns_simulator_data(influx_with_simulator_data):
    queries = influx_queries()
    assert len(queries) >= 6
    with httpx.Client(base_url=influx_with_simulator_data.url, timeout=30) as http:
        for where, q in queries:
            r = http.get("/query", params={"db": DATABASE, "q": grafana_influxql(q), "epoch": "ms"})  # Grafana: GET
            assert r.status_code == 200, f"{where}: {r.text}"
            [result] = r.json()["results"]
            assert "error" not in result, f"{where}: {result['error']} in {grafana_influxql(q)}"
            series = result.get("series", [])
            values = [v for s in series for row in s["values"] for v in row[1:] if v is not None]
            assert values, f"{where}: no data for {grafana_influxql(q)}"
            if "GROUP BY" in q and '"asset"' in q:
                assets = {s["tags"]["asset"] for s in series}
                assert assets >= ({"P-101"} if "waveform" in q else {"P-101", "F-201"}), f"{where}: {assets}"


def grafana_sql(q: str) -> str:
    return re.sub(r"\$__timeFilter\((\w+)\)", r"\1 >= now() - interval '30 days'", q)


@pytest.mark.servers
def test_every_sql_query_runs_against_postgresql_holding_work_orders(postgresql):
    import sqlalchemy

    from tests.ticketing.conftest import finding, fresh_postgresql_url
    from faultline.vocabulary import ManualClock
    from faultline.ticketing.config import TicketingConfig, default_ticketing_config
    from faultline.ticketing.findings import FindingIntake
    from faultline.ticketing.store import WorkOrderStore

    url = fresh_postgresql_url(postgresql)
    t0 = datetime.now(UTC) - timedelta(days=2)  # long enough ago that the P1 order is past its targets
    config = TicketingConfig.model_validate(
        {**default_ticketing_config(env={}).model_dump(), "asset_criticality": {"pump-1": "A", "fan-9": "C"}}
    )
    with WorkOrderStore(url) as store:
        intake = FindingIntake.from_config(config, store, ManualClock(t0))
        intake.receive(finding(asset="pump-1", severity="high", started_at=t0))
        intake.receive(finding(asset="fan-9", fault_mode="misalignment", severity="medium", started_at=t0))
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            for name, title, t in targets("grafana-postgresql-datasource"):
                rows = conn.exec_driver_sql(grafana_sql(t["rawSql"])).fetchall()
                assert rows, f"{name}: {title}: no rows"
                if title.startswith("Past their"):
                    assert rows[0][0] >= 1, f"{name}: {title}: the P1 order two days old is not overdue"
    finally:
        engine.dispose()
