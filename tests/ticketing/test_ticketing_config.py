"""The ``ticketing:`` section: the sample loads, cross-references are checked, errors name key and value."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from faultline.service.settings import ConfigError, load_settings, settings_from_dict
from faultline.ticketing.config import (
    TicketingConfig,
    UnknownName,
    default_config_path,
    default_ticketing_config,
    expand_env,
    parse_ticketing_section,
)
from faultline.ticketing.models import PRIORITIES
from faultline.ticketing.sla import SlaTimeline

REPO = Path(__file__).resolve().parents[2]
# with the ${VAR:-default} strings (webhook, mail server) at their defaults: no environment
SAMPLE = expand_env(yaml.safe_load((REPO / "config" / "ticketing.yaml").read_text())["ticketing"], {})


def with_change(path: str, value) -> dict:
    """The sample section with one key (dotted path) replaced; ``...`` deletes it."""
    data = copy.deepcopy(SAMPLE)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


def problems(data: dict) -> str:
    with pytest.raises(ConfigError) as raised:
        settings_from_dict({"ticketing": data}, "test.yaml")
    return "\n".join(raised.value.problems)


def test_the_shipped_default_is_the_sample_in_config():
    assert default_config_path().read_text() == (REPO / "config" / "ticketing.yaml").read_text()
    assert default_ticketing_config(env={}) == TicketingConfig.model_validate(SAMPLE)


def test_the_sample_is_the_catalogue_the_issue_asks_for():
    config = default_ticketing_config()
    emergency, corrective = config.policy("emergency-repair"), config.policy("corrective")
    assert (emergency.response, emergency.resolution, emergency.calendar) == (
        timedelta(minutes=15),
        timedelta(hours=4),
        "24x7",
    )
    assert (corrective.response, corrective.resolution, corrective.calendar) == (
        timedelta(hours=2),
        timedelta(hours=48),
        "business",
    )
    assert config.policy("preventive").resolution == timedelta(days=7)
    assert config.policy("inspection").resolution == timedelta(days=14)
    plant = config.site("north")
    assert plant.timezone == "Europe/Berlin"
    assert plant.hours == {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
    assert date(2026, 3, 8) in plant.holidays.table()  # Women's Day: Berlin's own holiday
    assert date(2026, 12, 24) not in plant.holidays.table()


def test_the_sample_loads_as_part_of_a_run_configuration():
    settings = load_settings(REPO / "config" / "ticketing.yaml")
    # loaded as a file of its own, its relative SQLite store is beside it (paths are relative to the file)
    assert settings.ticketing.store_url == f"sqlite:///{REPO / 'config' / 'var' / 'workorders.sqlite'}"
    assert (
        settings.ticketing.model_copy(update={"store_url": "sqlite:///var/workorders.sqlite"})
        == default_ticketing_config()
    )
    assert parse_ticketing_section({"ticketing": {"a": 1}}) == {"a": 1}
    with pytest.raises(ValueError, match="x.yaml: no 'ticketing:' section"):
        parse_ticketing_section({"mqtt": {}}, "x.yaml")


def test_policies_without_their_own_chain_take_the_default_steps_on_their_targets():
    config = default_ticketing_config()
    assert [s.key for s in config.policy("emergency-repair").escalation] == [
        "response@0.75:notify_assignee",
        "response@1:reassign",
        "resolution@0.75:notify_assignee",
        "resolution@1:notify_manager",
    ]
    assert [s.key for s in config.policy("preventive").escalation] == [
        "resolution@0.75:notify_assignee",
        "resolution@1:notify_manager",
    ]


def test_lookups():
    config = default_ticketing_config()
    assert config.policy_for("P2").name == "corrective"
    assert config.policy_for("P1", "corrective").name == "emergency-repair"  # raised past its class of job
    assert config.priority_for("critical", "A") == "P1" and config.priority_for("low", "C") == "P4"
    with pytest.raises(UnknownName, match=r"unknown policy 'urgent' \(configured: corrective, emergency-repair"):
        config.policy("urgent")
    with pytest.raises(UnknownName, match=r"unknown site 'plant-c' \(configured: north, south\)"):
        config.sla_clock("plant-c", "corrective")
    with pytest.raises(ValueError, match="'P0'"):
        config.policy_for("P0")
    with pytest.raises(ValueError, match="'severe'"):
        config.priority_for("severe", "A")


def test_a_policy_may_serve_several_priorities_and_types_may_share_one():
    data = with_change(
        "policies",
        {
            "fast": {"service_type": "corrective", "priorities": ["P1", "P2"], "response": "30m", "calendar": "24x7"},
            "slow": {"service_type": "corrective", "priorities": ["P3", "P4"], "resolution": "2w"},
            "look": {"service_type": "inspection", "priorities": ["P4"], "resolution": "14d"},
        },
    )
    config = TicketingConfig.model_validate(data)
    assert config.policy_for("P4", "inspection").name == "look" and config.policy_for("P4").name == "slow"
    assert config.policy("slow").resolution == timedelta(weeks=2)


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("sites.north.timezone", "Europe/Berlim", "ticketing.sites.north.timezone: unknown time zone 'Europe/Berlim'"),
        ("sites.north.hours.mon", ["8-17"], "not a working window: '8-17'"),
        ("sites.north.hours.mon", ["08:00-12:00", "11:00-17:00"], "overlap"),
        ("sites.north.hours.monday", ["08:00-17:00"], "ticketing.sites.north.hours.monday"),
        ("sites.north.holidays.country", "XX", "no public holidays known for 'XX-BE'"),
        ("sites.north.holidays.subdivision", "ZZ", "'DE-ZZ'"),
        ("sites.north.holidays.extra", ["2026-02-30"], "ticketing.sites.north.holidays.extra.0"),
        ("sites.north.colour", "blue", "ticketing.sites.north.colour: unknown key"),
        (
            "policies.corrective.response",
            "2 hours",
            "ticketing.policies.corrective.response: not a duration: '2 hours'",
        ),
        ("policies.corrective.priorities", ["P2", "P5"], "unknown priority 'P5'"),
        ("policies.corrective.calendar", "weekdays", "ticketing.policies.corrective.calendar"),
        ("policies.corrective.name", "fix", "policy 'corrective' is named 'fix'"),
        ("policies.inspection", ..., "no policy serves priority P4"),
        ("escalation", [{"at": 1, "of": "response", "action": "reassign"}], "needs a role"),
        ("escalation", [{"at": 0, "of": "response", "action": "notify_assignee"}], "ticketing.escalation.0.at"),
        ("risk_matrix.low", ..., "no row for severity 'low'"),
        ("risk_matrix.high.B", "P9", "high.B: 'P9' is not a priority"),
        ("engineers.0.sites", ["plant-z"], "engineer 'anna.schmidt': unknown site 'plant-z'"),
        ("engineers.1.name", "anna.schmidt", "engineer name 'anna.schmidt' appears more than once"),
        ("engineers.0.role", "wizard", "ticketing.engineers.0.role"),
        ("permissions.close.P1", ["wizard"], "wizard"),
        ("reopen_window", "soon", "not a duration: 'soon'"),
        ("reopen_window", -60, "must not be negative"),
        (
            "escalation",
            [{"at": 1, "of": "resolution", "action": "notify_manager"}] * 2,
            "escalation step 'resolution@1:notify_manager' is listed more than once",
        ),
        ("assignment.strategy", "random", "ticketing.assignment.strategy"),
    ],
)
def test_errors_name_the_key_and_the_value(path, value, named):
    assert named in problems(with_change(path, value))


def test_one_mistake_gives_one_error():
    assert problems(with_change("sites.north.timezone", "Mars/Olympus")).count("\n") == 0


def test_one_working_window_may_be_written_without_a_list():
    config = TicketingConfig.model_validate(with_change("sites.north.hours", {"mon": "06:00-14:00"}))
    assert config.site("north").hours == {"mon": ["06:00-14:00"]}


def test_durations_are_read_in_every_spelling():
    for text, expected in [
        ("14d", timedelta(days=14)),
        ("PT36H", timedelta(hours=36)),
        ("1w2d", timedelta(days=9)),
        (3600, timedelta(hours=1)),
        ("90min", timedelta(minutes=90)),
    ]:
        assert TicketingConfig.model_validate(with_change("reopen_window", text)).reopen_window == expected


def test_extra_closing_days_close_the_site():
    config = TicketingConfig.model_validate(with_change("sites.north.holidays.extra", ["2026-12-24"]))
    sla = config.sla_clock("north", "corrective")
    opened = datetime.fromisoformat("2026-12-23T16:30:00+01:00")
    # 30 min on the 23rd; the 24th is the plant's own closing day; then the 25th/26th and the weekend
    assert sla.deadlines(SlaTimeline(opened)).response_due.isoformat() == "2026-12-28T09:30:00+01:00"


def test_every_priority_has_a_policy_in_the_sample():
    config = default_ticketing_config()
    assert {config.policy_for(p).name for p in PRIORITIES} == {
        "emergency-repair",
        "corrective",
        "preventive",
        "inspection",
    }


def test_model_dump_round_trips():
    config = default_ticketing_config()
    assert TicketingConfig.model_validate(config.model_dump()) == config
    assert TicketingConfig.model_validate_json(config.model_dump_json()) == config


def test_a_section_without_sites_or_policies_is_refused():
    with pytest.raises(ValidationError, match="sites"):
        TicketingConfig.model_validate({"policies": SAMPLE["policies"]})
