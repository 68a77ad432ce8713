"""Replaying a recorded CSV: parsing, errors that name the row, and publishing through Mosquitto."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faultline.simulators.replay import ReplayError, read_recording, recording_messages

RECORDING = """time,Vib (mm/s),Temp DE,comment
2026-01-05T08:00:00Z,1.25,41.5,ok
2026-01-05T08:00:10Z,1.31,,ok
2026-01-05T08:00:05Z,1.28,41.6,late row
"""


def test_recording_is_read_sorted_with_gaps_kept(tmp_path):
    path = tmp_path / "rec.csv"
    path.write_text(RECORDING)
    rec = read_recording(path, {"Vib (mm/s)": "vibration_rms", "Temp DE": "bearing_temp"})
    assert (np.diff(rec.ts_ns) == [5 * 10**9, 5 * 10**9]).all()
    assert rec.columns["vibration_rms"].tolist() == [1.25, 1.28, 1.31]
    assert np.isnan(rec.columns["bearing_temp"][2])
    messages = list(recording_messages(rec, "north", "P-7"))
    assert [m.at_ns for m in messages] == [0, 0, 5 * 10**9, 5 * 10**9, 10 * 10**9]
    assert {m.topic for m in messages} == {"faultline/north/P-7/vibration_rms", "faultline/north/P-7/bearing_temp"}
    assert json.loads(messages[-1].payload) == {"ts": 1767600010000, "value": 1.31}


@pytest.mark.parametrize(
    "stamp, expected_ns",
    [
        ("1767600000", 1767600000 * 10**9),
        ("1767600000123", 1767600000123 * 10**6),
        ("2026-01-05 08:00:00", 1767600000 * 10**9),
        ("2026-01-05T09:00:00+01:00", 1767600000 * 10**9),
    ],
)
def test_timestamps_in_seconds_milliseconds_or_iso(tmp_path, stamp, expected_ns):
    path = tmp_path / "rec.csv"
    path.write_text(f"ts,v\n{stamp},1\n")
    assert read_recording(path).ts_ns[0] == expected_ns


@pytest.mark.parametrize(
    "text, mapping, message",
    [
        ("ts,v\nnoon,1\n", None, "rec.csv:2: bad timestamp 'noon'"),
        ("ts,v\n1767600000,1\n1767600001,high\n", None, "rec.csv:3: column 'v' value 'high' is not a number"),
        ("ts,v\n1767600000,1\n", {"w": "vibration_rms"}, "names column(s) ['w']"),
        ("ts,v\n", None, "no data rows"),
    ],
)
def test_errors_name_file_row_and_value(tmp_path, text, mapping, message):
    path = tmp_path / "rec.csv"
    path.write_text(text)
    with pytest.raises(ReplayError) as info:
        read_recording(path, mapping)
    assert message in str(info.value)


@pytest.mark.servers
def test_replay_cli_publishes_every_reading(mosquitto, tmp_path):
    from typer.testing import CliRunner

    from faultline.service.cli import app
    from tests.simulators.test_publish import Subscriber, decode

    path = tmp_path / "rec.csv"
    rows = [f"{1767600000 + i},{1.0 + i / 100:.2f},{40 + i / 10:.1f}" for i in range(300)]
    path.write_text("epoch,vib,temp\n" + "\n".join(rows) + "\n")
    subscriber = Subscriber(mosquitto.url)
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "replay",
            str(path),
            "--asset",
            "P-7",
            "--site",
            "north",
            "--map",
            "vib=vibration_rms",
            "--map",
            "temp=bearing_temp",
            "--speed",
            "0",
            "--broker",
            mosquitto.url,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    received = subscriber.wait_for(600)
    readings = sorted(r for topic, payload in received for r in decode(topic, payload))
    assert len(readings) == 600
    vib = [(t, v) for a, s, t, v in readings if s == "vibration_rms" and a == "P-7"]
    assert vib[0] == (1767600000000, 1.0) and vib[-1] == (1767600299000, 3.99)


def test_replay_cli_rejects_a_bad_map(tmp_path):
    from typer.testing import CliRunner

    from faultline.service.cli import app

    path = tmp_path / "rec.csv"
    path.write_text("ts,v\n1767600000,1\n")
    result = CliRunner().invoke(app, ["simulate", "replay", str(path), "--asset", "a", "--site", "s", "--map", "v"])
    assert result.exit_code == 2 and "--map 'v': use column=sensor" in result.output
