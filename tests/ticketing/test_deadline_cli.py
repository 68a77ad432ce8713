"""`faultline tickets deadline`: the answer a service manager needs when a job comes in."""

from __future__ import annotations

import json
import pytest
from typer.testing import CliRunner

from faultline.service.cli import app

runner = CliRunner()


def deadline(*args: str):
    return runner.invoke(app, ["tickets", "deadline", *args])


def test_corrective_job_on_christmas_eve_afternoon_waits_for_the_holidays():
    # Thu 24 Dec 2026 16:30 in Berlin: 24 Dec is a working day in DE-BE, 25 Dec (Fri) and 26 Dec (Sat)
    # are public holidays, then Sunday; 1 Jan 2027 (Fri) is New Year's Day.
    result = deadline("--policy", "corrective", "--site", "north", "--opened", "2026-12-24T16:30:00+01:00")
    assert result.exit_code == 0, result.output
    # response 2 h: 30 min on Thursday, 1 h 30 min on Monday 28 Dec from 08:00
    # resolution 48 h: 0.5 + 9 × 4 working days (28–31 Dec) = 36.5 h; Mon 4 Jan 9 h → 45.5 h; Tue 2.5 h
    assert json.loads(result.stdout) == {
        "response_due": "2026-12-28T09:30:00+01:00",
        "resolution_due": "2027-01-05T10:30:00+01:00",
    }


@pytest.mark.parametrize(
    ("opened", "response_due", "resolution_due"),
    [
        # Friday 16:00 before Whit Monday (25 May 2026): 1 h on Friday, the rest from Tuesday
        ("2026-05-22T16:00:00+02:00", "2026-05-26T09:00:00+02:00", "2026-06-02T10:00:00+02:00"),
        # Thursday 16:00 before Easter: Good Friday and Easter Monday are holidays
        ("2026-04-02T16:00:00+02:00", "2026-04-07T09:00:00+02:00", "2026-04-14T10:00:00+02:00"),
        # New Year's Eve 16:00: New Year's Day is a Friday
        ("2026-12-31T16:00:00+01:00", "2027-01-04T09:00:00+01:00", "2027-01-11T10:00:00+01:00"),
        # opened on a Saturday, and on a weekday evening
        ("2026-11-21T11:00:00+01:00", "2026-11-23T10:00:00+01:00", "2026-11-30T11:00:00+01:00"),
        ("2026-11-24T19:45:00+01:00", "2026-11-25T10:00:00+01:00", "2026-12-02T11:00:00+01:00"),
    ],
)
def test_worked_examples_before_holidays_and_outside_hours(opened, response_due, resolution_due):
    # each resolution: 48 h = the hours left that day + 9 h per working day, holidays skipped
    result = deadline("--policy", "corrective", "--site", "north", "--opened", opened)
    assert json.loads(result.stdout) == {"response_due": response_due, "resolution_due": resolution_due}


def test_opened_in_utc_is_answered_in_the_sites_offset():
    result = deadline("--policy", "corrective", "--site", "north", "--opened", "2026-12-24T15:30:00Z")
    assert json.loads(result.stdout)["response_due"] == "2026-12-28T09:30:00+01:00"


def test_emergency_repair_counts_round_the_clock_across_the_dst_change():
    # Sat 28 Mar 2026 23:00 CET; clocks go from 02:00 to 03:00 on Sunday: 4 h later is 04:00 CEST
    result = deadline("--policy", "emergency-repair", "--site", "north", "--opened", "2026-03-28T23:00:00+01:00")
    assert json.loads(result.stdout) == {
        "response_due": "2026-03-28T23:15:00+01:00",
        "resolution_due": "2026-03-29T04:00:00+02:00",
    }


def test_policy_without_a_response_target_prints_null():
    result = deadline("--policy", "preventive", "--site", "north", "--opened", "2026-06-01T10:00:00+02:00")
    assert json.loads(result.stdout) == {"response_due": None, "resolution_due": "2026-06-08T10:00:00+02:00"}


def test_two_shift_site_on_an_observed_us_holiday():
    # Fri 3 Jul 2026 is Independence Day (observed) in the US, Sat 4 Jul the day itself: the clock
    # starts Monday 06:00 in Chicago (CDT, -05:00). Shifts 06:00-14:00 and 14:30-22:00 = 15.5 h a day.
    result = deadline("--policy", "corrective", "--site", "south", "--opened", "2026-07-03T21:00:00-05:00")
    # resolution 48 h: Mon, Tue, Wed = 46.5 h, then 1.5 h on Thursday from 06:00
    assert json.loads(result.stdout) == {
        "response_due": "2026-07-06T08:00:00-05:00",
        "resolution_due": "2026-07-09T07:30:00-05:00",
    }


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--policy", "nope", "--site", "north", "--opened", "2026-12-24T16:30+01:00"], "'nope'"),
        (["--policy", "corrective", "--site", "plant-z", "--opened", "2026-12-24T16:30+01:00"], "'plant-z'"),
        (["--policy", "corrective", "--site", "north", "--opened", "2026-12-24T16:30"], "'2026-12-24T16:30'"),
        (["--policy", "corrective", "--site", "north", "--opened", "24.12.2026 16:30"], "'24.12.2026 16:30'"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_value(args, named):
    result = deadline(*args)
    assert result.exit_code == 2
    assert named in " ".join(result.output.split())


def test_config_file_is_read_and_its_errors_name_key_and_value(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("""
ticketing:
  sites:
    depot: {timezone: Asia/Tokyo, hours: {sat: ["09:00-12:00"]}}
  policies:
    all: {service_type: corrective, priorities: [P1, P2, P3, P4], response: 1h, resolution: 6h}
""")
    result = deadline(
        "--policy", "all", "--site", "depot", "--opened", "2026-11-20T00:00:00+09:00", "--config", str(good)
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "response_due": "2026-11-21T10:00:00+09:00",
        "resolution_due": "2026-11-28T12:00:00+09:00",
    }

    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("Asia/Tokyo", "Asia/Tokio"))
    result = deadline(
        "--policy", "all", "--site", "depot", "--opened", "2026-11-20T00:00:00+09:00", "--config", str(bad)
    )
    assert result.exit_code == 2
    assert "Asia/Tokio" in result.output and "timezone" in result.output

    none = tmp_path / "none.yaml"
    none.write_text("spool: {path: ./var/spool}\n")
    result = deadline(
        "--policy", "all", "--site", "depot", "--opened", "2026-11-20T00:00:00+09:00", "--config", str(none)
    )
    assert result.exit_code == 2
    assert "ticketing" in result.output

    missing = tmp_path / "missing.yaml"
    result = deadline(
        "--policy", "all", "--site", "depot", "--opened", "2026-11-20T00:00:00+09:00", "--config", str(missing)
    )
    assert result.exit_code == 2
    assert "missing.yaml" in result.output and "cannot read" in result.output
