"""KPIs from a scripted week of orders in a real store, with time moved by a ManualClock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ticketing.conftest import T0, finding
from faultline.ticketing.findings import FindingIntake
from faultline.ticketing.kpis import compute_kpis, kpis_from_store
from faultline.ticketing.lifecycle import Actor, Lifecycle, ServiceDesk, config_deadlines

ANNA = Actor("anna.schmidt", "senior_engineer")
LEA = Actor("lea.fischer", "junior_engineer")
JONAS = Actor("jonas.weber", "mid_engineer")
H, D, M = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)


@pytest.fixture
def week(store, clock, config):
    """Five orders through a week; returns the store at T0 + 3 days."""
    config = config.model_copy(update={"asset_criticality": {"pump-1": "A", "fan-9": "C", "pump-4": "B"}})
    intake = FindingIntake.from_config(config, store, clock)
    desk = ServiceDesk(store, Lifecycle(clock, config_deadlines(config), config.permissions))
    at = lambda offset: clock.set(T0 + offset)  # noqa: E731
    a = intake.receive(finding(asset="pump-1", severity="high")).order.id  # P1 emergency
    b = intake.receive(finding(asset="fan-9", severity="medium", rule="zone-b")).order.id  # P4 inspection
    intake.receive(finding(asset="pump-2", fault_mode="bearing_outer_race", severity="critical"))  # P1, left open
    d = intake.receive(finding(asset="pump-3", fault_mode="misalignment", severity="high")).order.id  # P2
    e = intake.receive(finding(asset="pump-4", fault_mode="looseness", severity="low")).order.id  # P4
    at(10 * M)
    desk.act(a, ANNA, "acknowledge")
    desk.act(a, ANNA, "start")
    at(H)
    desk.act(b, LEA, "acknowledge")
    desk.act(b, LEA, "start")
    desk.act(d, JONAS, "acknowledge")
    desk.act(d, JONAS, "start")
    desk.act(e, JONAS, "acknowledge")
    desk.act(e, JONAS, "start")
    at(2 * H)
    desk.act(d, JONAS, "hold", reason="awaiting_parts")
    at(3 * H)
    desk.act(a, ANNA, "resolve", outcome="fault_confirmed")
    desk.act(a, ANNA, "close")
    at(5 * H)
    desk.act(e, JONAS, "resolve", outcome="fault_confirmed")
    desk.act(e, ANNA, "close")
    at(D)
    desk.act(b, LEA, "resolve", outcome="false_alarm")
    desk.act(b, ANNA, "close")
    at(2 * D)
    assert intake.receive(finding(asset="pump-1", severity="high", started_at=clock.now())).action == "reopen"
    at(2 * D + 30 * M)
    desk.act(a, ANNA, "acknowledge")
    desk.act(a, ANNA, "start")
    at(2 * D + 2 * H)
    desk.act(a, ANNA, "resolve", outcome="fault_confirmed")
    desk.act(a, ANNA, "close")
    at(3 * D)
    return store


def test_kpis_of_the_scripted_week(week, clock):
    k = kpis_from_store(week, T0 - D, T0 + 3 * D, clock.now(), repeat_threshold=2)
    assert k.orders_opened == 5
    assert (k.visits, k.reopenings) == (6, 1)  # a was reopened: its second visit has its own clock
    assert k.mtta == (10 * M + 30 * M + H + H + H) / 5  # a's two visits, b, d, e; c never
    assert k.mttr == (3 * H + 2 * H + D + 5 * H) / 4  # a's two visits (each from its own start), b, e
    # response: a's first visit met, its second breached (30 min on a 15 min target), d met (2 business
    # hours), c breached (never acknowledged); P4 has no target
    assert k.response_compliance == pytest.approx(50.0)
    # resolution: both visits of a, b, e met; c breached; d on hold, so undecided
    assert k.resolution_compliance == pytest.approx(80.0)
    assert k.first_time_fix_rate == pytest.approx(50.0)  # e fixed first time, a came back
    by_rule = {(r.detector, r.rule): r for r in k.rules}
    assert by_rule[("iso20816", "zone-b")].false_alarm_rate == 100.0
    assert by_rule[("iso20816", "zone-c")].outcomes == {"fault_confirmed": 2}
    assert by_rule[("iso20816", "zone-c")].false_alarm_rate == 0.0
    assert k.backlog["P1"]["1-7d"] == 1 and k.backlog["P2"]["1-7d"] == 1  # c open, d on hold
    assert sum(sum(row.values()) for row in k.backlog.values()) == 2
    [repeat] = k.repeat_failures
    assert (repeat.asset, repeat.occurrences, repeat.needs_root_cause_analysis) == ("pump-1", 2, True)
    json = k.as_json()
    assert json["first_time_fix_rate_pct"] == 50.0 and json["mtta_hours"] == round(44 / 60, 3)
    assert json["reopenings"] == 1


def test_period_selects_the_cohort(week, clock):
    later = kpis_from_store(week, T0 + D, T0 + 3 * D, clock.now())
    assert later.orders_opened == 0
    # the reopening of a on day 2 is a visit of this period, judged on its own clock
    assert (later.visits, later.reopenings, later.mtta, later.response_compliance) == (1, 1, 30 * M, 0.0)
    assert sum(sum(row.values()) for row in later.backlog.values()) == 2  # backlog is as of now
    assert later.repeat_failures == []  # one occurrence in the period (the reopening) is no repeat


def test_empty_and_reversed_periods():
    assert compute_kpis([], T0, T0 + D, T0).first_time_fix_rate is None
    with pytest.raises(ValueError, match="must end after it starts"):
        compute_kpis([], T0, T0, T0)


def test_kpis_command_prints_them_as_json_and_as_a_table(week):
    import json

    from typer.testing import CliRunner

    from faultline.service.cli import app

    period = ["--since", (T0 - D).isoformat(), "--until", (T0 + 3 * D).isoformat(), "--store", week.url]
    result = CliRunner().invoke(app, ["tickets", "kpis", *period, "--json", "--repeat-threshold", "2"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["orders_opened"] == 5 and figures["first_time_fix_rate_pct"] == 50.0
    assert figures["repeat_failures"][0]["needs_root_cause_analysis"] is True
    table = CliRunner().invoke(app, ["tickets", "kpis", *period, "--repeat-threshold", "2"])
    assert "first-time fix 50 %" in table.output and "pump-1: 2" in table.output and "ROOT-CAUSE" in table.output
    naive = CliRunner().invoke(app, ["tickets", "kpis", "--since", "2026-03-01T00:00", "--store", week.url])
    assert naive.exit_code == 2 and "no time zone offset" in naive.output
