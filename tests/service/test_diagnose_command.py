"""`faultline diagnose`: vibration records from .mat, CSV, .npy and simulator files, through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import savemat
from typer.testing import CliRunner

from faultline.service.cli import app
from faultline.simulators.bearing_records import bearing_record

RATE = 12000.0


def record(mode: str | None, rpm: float, seed: int, seconds: float = 4.05) -> np.ndarray:
    return bearing_record(
        np.random.default_rng(seed), mode, "6205", rpm / 60.0, rate_hz=RATE, seconds=seconds, noise=0.25, shaft_orders=3
    )  # confounders are the detector tests' job


def run(*args: str):
    return CliRunner().invoke(app, ["diagnose", *args])


def test_mat_records_round_trip_with_the_rpm_and_drive_end_channel_of_the_file(tmp_path):
    """Variables named like a public test rig's: X<nnn>_DE_time, X<nnn>_FE_time, X<nnn>RPM. The fan
    end carries a different defect, so reading the wrong channel would show."""
    files = {"097": (None, 1797.0, "bpfi"), "105": ("bpfi", 1772.0, None), "130": ("bpfo", 1750.0, "bpfi")}
    for num, (mode, rpm, fan_mode) in files.items():
        savemat(
            tmp_path / f"{int(num)}.mat",
            {
                f"X{num}_DE_time": record(mode, rpm, int(num))[:, None],
                f"X{num}_FE_time": record(fan_mode, rpm, int(num) + 1)[:, None],
                f"X{num}RPM": np.array([[rpm]]),
            },
        )
    result = run(str(tmp_path), "--rate-hz", "12000", "--bearing", "6205", "--json")
    assert result.exit_code == 0, result.output
    out = {json.loads(line)["file"].rsplit("/", 1)[1]: json.loads(line) for line in result.output.splitlines()}
    assert {k: (v["verdict"], v["mode"]) for k, v in out.items()} == {
        "97.mat": ("healthy", None),
        "105.mat": ("defect", "inner_race"),
        "130.mat": ("defect", "outer_race"),
    }
    d = out["105.mat"]
    assert d["channel"] == "X105_DE_time" and d["rpm"] == pytest.approx(1772.0) and d["speed_from"] == "file"
    assert d["defect_hz"]["inner_race"] == pytest.approx(5.4152 * 1772 / 60, rel=1e-3)  # published BPFI/shaft
    assert d["peak_to_floor"]["inner_race"] > 2 * d["peak_to_floor"]["outer_race"]
    assert d["blocks"] == 4 and d["block"] == 12000 and len(d["band_hz"]) == 2  # 600 samples left over
    fan = run(str(tmp_path / "97.mat"), "--rate-hz", "12000", "--bearing", "6205", "--channel", "FE")
    assert fan.exit_code == 0 and "X097_FE_time" in fan.output and "inner_race (strength" in fan.output
    text = run(str(tmp_path / "130.mat"), "--rate-hz", "12000", "--bearing", "6205-2RS", "--block", "1024")
    assert text.exit_code == 0, text.output
    assert "47 blocks of 1024 samples" in text.output and "outer_race (strength" in text.output
    assert "peak-to-floor: outer_race" in text.output


def test_csv_and_npy_records_with_explicit_geometry(tmp_path):
    x = record("bpfo", 1500.0, 7)
    (tmp_path / "one.csv").write_text("accel\n" + "\n".join(f"{v:.5f}" for v in x))
    t = np.arange(len(x)) / RATE
    (tmp_path / "two.csv").write_text("time,accel\n" + "\n".join(f"{a:.7f},{v:.5f}" for a, v in zip(t, x)))
    np.save(tmp_path / "three.npy", x)
    np.save(tmp_path / "four.npy", np.stack([np.zeros_like(x), x], axis=1))
    geometry = ["--balls", "9", "--ball-mm", "7.94", "--pitch-mm", "39.04", "--rpm", "1500", "--json"]
    out = run(str(tmp_path / "one.csv"), str(tmp_path / "three.npy"), "--rate-hz", "12000", *geometry)
    assert out.exit_code == 0, out.output
    assert [json.loads(line)["mode"] for line in out.output.splitlines()] == ["outer_race", "outer_race"]
    timed = run(str(tmp_path / "two.csv"), *geometry)  # the rate from the time column
    assert timed.exit_code == 0, timed.output
    assert json.loads(timed.output)["rate_hz"] == pytest.approx(RATE) and json.loads(timed.output)["channel"] == "accel"
    column = run(str(tmp_path / "four.npy"), "--rate-hz", "12000", "--column", "2", *geometry)
    assert column.exit_code == 0 and json.loads(column.output)["mode"] == "outer_race"


def test_a_simulator_waveform_file_is_diagnosed_block_by_block(tmp_path):
    blocks = [record("bpfi", 1500.0, 30 + i, seconds=2048 / RATE) for i in range(12)]
    lines = ['"t0","rate_hz","values"'] + [
        f"2026-11-20T00:{i:02d}:00.000Z,12000,{' '.join(f'{v:.4f}' for v in b)}" for i, b in enumerate(blocks)
    ]
    (tmp_path / "P-1.accel.csv").write_text("\n".join(lines) + "\n")
    out = run(str(tmp_path / "P-1.accel.csv"), "--shaft-hz", "25", "--bearing", "6205", "--json")
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    assert d["rate_hz"] == 12000 and d["blocks"] == 12 and d["block"] == 2048 and d["mode"] == "inner_race"


@pytest.mark.parametrize(
    "args,message",
    [
        (["rec.mat", "--bearing", "6205"], "no sampling rate in the file: give --rate-hz"),
        (["rec.mat", "--rate-hz", "12000", "--bearing", "6299"], "--bearing '6299': unknown designation; known: 6205"),
        (["rec.mat", "--rate-hz", "12000", "--bearing", "6205", "--channel", "XX"], "no channel 'XX'"),
        (["rec.mat", "--rate-hz", "12000", "--balls", "9"], "--ball-mm, --pitch-mm missing"),
        (
            ["words.csv", "--rate-hz", "12000", "--bearing", "6205", "--rpm", "1500"],
            "no numeric column (columns: a, b)",
        ),
        (
            ["two.csv", "--rate-hz", "12000", "--bearing", "6205", "--rpm", "1500"],
            "2 numeric columns (x, y): choose one with --column",
        ),
        (["norpm.npy", "--rate-hz", "12000", "--bearing", "6205"], "give --rpm or --shaft-hz"),
        (["rec.mat", "--rate-hz", "-5", "--bearing", "6205"], "--rate-hz -5: must be positive"),
    ],
)
def test_bad_input_gets_one_line_naming_the_value(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    savemat("rec.mat", {"X001_DE_time": np.ones((4000, 1)), "X001RPM": np.array([[1797.0]])})
    (tmp_path / "words.csv").write_text("a,b\nx,y\nz,w\n")
    (tmp_path / "two.csv").write_text("x,y\n1,2\n3,4\n")
    np.save("norpm.npy", np.ones(4000))
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
