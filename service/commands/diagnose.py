"""`faultline diagnose FILE...`: which bearing defect a recorded vibration shows, if any."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Optional

import typer

#: The modes in the words of the output, in the order of `detectors.BEARING_MODES`.
MODE_NAMES = {"bpfo": "outer_race", "bpfi": "inner_race", "bsf": "ball", "ftf": "cage"}


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `faultline` app."""
    app.command("diagnose")(diagnose)


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def bearing_geometry(
    bearing: str | None, balls: int | None, ball_mm: float | None, pitch_mm: float | None, contact_deg: float
):
    """The bearing from its designation or from explicit geometry; ValueError naming the bad value."""
    from faultline.detectors import BearingGeometry
    from faultline.detectors.waveform import BEARING_DESIGNATIONS

    explicit = (balls, ball_mm, pitch_mm)
    if bearing is not None:
        if any(v is not None for v in explicit):
            raise ValueError("give --bearing or --balls/--ball-mm/--pitch-mm, not both")
        key = bearing.upper().strip()
        for suffix in (" JEM", "-2RS1", "-2RS", "-2Z", "-ZZ"):  # seals and shields do not change the geometry
            key = key.removesuffix(suffix).strip()
        if key not in BEARING_DESIGNATIONS:
            raise ValueError(
                f"--bearing {bearing!r}: unknown designation; known: {', '.join(BEARING_DESIGNATIONS)} "
                f"(or give --balls, --ball-mm, --pitch-mm, --contact-deg)"
            )
        return key, BEARING_DESIGNATIONS[key]
    if any(v is None for v in explicit):
        missing = [o for o, v in zip(("--balls", "--ball-mm", "--pitch-mm"), explicit) if v is None]
        raise ValueError(f"no bearing: give --bearing (e.g. 6205) or the geometry ({', '.join(missing)} missing)")
    assert balls is not None and ball_mm is not None and pitch_mm is not None  # checked just above
    if balls < 3 or ball_mm <= 0 or pitch_mm <= ball_mm:
        raise ValueError(
            f"bearing geometry balls={balls}, ball {ball_mm} mm, pitch {pitch_mm} mm: "
            f"want 3 or more balls and a pitch diameter larger than the ball"
        )
    return f"{balls} balls, {ball_mm:g}/{pitch_mm:g} mm", BearingGeometry(balls, ball_mm, pitch_mm, contact_deg)


def diagnose_file(
    path: Path,
    geometry,
    rate_hz: float | None,
    shaft_hz: float | None,
    block: int | None,
    channel: str | None,
    column: str | None,
    band: tuple[float, float] | None,
) -> dict:
    """Diagnose one file; a dict for printing or JSON. ValueError (naming the value) when it cannot be."""
    import numpy as np

    from faultline.detectors import BEARING_MODES, bearing_frequencies, diagnose_bearing, diagnose_record, record_blocks
    from faultline.service.vibration_files import read_record

    record = read_record(path, channel=channel, column=column)
    rate = rate_hz or record.rate_hz
    if not rate:
        raise ValueError("no sampling rate in the file: give --rate-hz")
    if rate_hz and record.rate_hz and abs(rate_hz - record.rate_hz) > 1e-6 * rate_hz:
        raise ValueError(f"--rate-hz {rate_hz:g} but the file says {record.rate_hz:g} Hz")
    speed_from = "option" if shaft_hz else "file"
    shaft = shaft_hz or (record.rpm / 60.0 if record.rpm else None)
    if not shaft:
        raise ValueError("no running speed in the file (no *RPM variable): give --rpm or --shaft-hz")
    hz = {k: float(v) for k, v in bearing_frequencies(geometry, shaft).items()}
    if band is not None and not 0 <= band[0] < band[1]:
        raise ValueError(f"--band {band[0]:g} {band[1]:g}: want low < high")
    if record.continuous:
        per_block, whole = diagnose_record(record.blocks[0], rate, hz, shaft, block=block, band_hz=band)
        size = record_blocks(record.blocks[0], rate, block).shape[1]  # a view: no copy
    else:  # a simulator waveform file: blocks taken at different times, as they were stored
        per_block = diagnose_bearing(record.blocks, rate, hz, shaft, band_hz=band)
        whole = diagnose_bearing(record.blocks, rate, hz, shaft, band_hz=band, average=True)
        size = record.blocks.shape[1]
    named = [MODE_NAMES[m] if m else "healthy" for m in per_block.named()]
    mode = whole.named()[0]
    return {
        "file": str(path),
        "channel": record.channel,
        "rate_hz": float(rate),
        "samples": int(record.blocks.size),
        "shaft_hz": float(shaft),
        "rpm": float(shaft * 60.0),
        "speed_from": speed_from,
        "defect_hz": {MODE_NAMES[k]: round(v * (2 if k == "bsf" else 1), 3) for k, v in hz.items()},
        "block": int(size),
        "blocks": len(named),
        "verdict": "defect" if mode else "healthy",
        "mode": MODE_NAMES[mode] if mode else None,
        "strength": round(float(whole.strength[0]), 3),
        "peak_to_floor": {
            MODE_NAMES[k]: (None if not np.isfinite(v[0]) else round(float(v[0]), 3)) for k, v in whole.ratios.items()
        },
        "band_hz": [round(float(b), 1) for b in whole.band_hz[0]],
        "block_modes": {n: named.count(n) for n in ("healthy", *[MODE_NAMES[m] for m in BEARING_MODES]) if n in named},
        "per_block": named,
    }


def _print(d: dict) -> None:
    lines = "  ".join(f"{k} {v:g}" for k, v in d["defect_hz"].items())
    typer.echo(
        f"{d['file']}: {d['channel']}, {d['samples']} samples at {d['rate_hz']:g} Hz, "
        f"{d['rpm']:.0f} rpm ({d['speed_from']}); lines (Hz, ball at 2xBSF): {lines}"
    )
    seconds = d["block"] / d["rate_hz"]
    what = f"{d['mode']} (strength {d['strength']:.2f})" if d["mode"] else f"healthy (strength {d['strength']:.2f})"
    typer.echo(
        f"  record, {d['blocks']} blocks of {d['block']} samples ({seconds:.3g} s) averaged: {what}; "
        f"band {d['band_hz'][0]:g}-{d['band_hz'][1]:g} Hz"
    )
    ratios = "  ".join(f"{k} {'n/a' if v is None else f'{v:.2f}'}" for k, v in d["peak_to_floor"].items())
    typer.echo(f"  peak-to-floor: {ratios}")
    typer.echo("  blocks one by one: " + ", ".join(f"{v} {k}" for k, v in d["block_modes"].items()))


def _files(paths: list[Path]) -> list[Path]:
    from faultline.service.vibration_files import RECORD_SUFFIXES

    out = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                (f for f in p.iterdir() if f.is_file() and f.suffix.lower() in RECORD_SUFFIXES),
                key=lambda f: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", f.name)],
            )
            if not found:
                _fail(f"{p}: no record files ({', '.join(RECORD_SUFFIXES)}) in this folder")
            out += found
        else:
            out.append(p)
    return out


def diagnose(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="records: .mat, .csv/.txt (one column), .npy, simulator "
            "waveform files; a folder means every such file in it"
        ),
    ],
    rate_hz: Annotated[
        Optional[float], typer.Option("--rate-hz", help="sampling rate (required unless the file says)")
    ] = None,
    rpm: Annotated[
        Optional[float], typer.Option(help="running speed in rpm (default: the file's *RPM variable)")
    ] = None,
    shaft_hz: Annotated[
        Optional[float], typer.Option("--shaft-hz", help="running speed in Hz (instead of --rpm)")
    ] = None,
    bearing: Annotated[
        Optional[str], typer.Option(help="bearing designation from the built-in table, e.g. 6205")
    ] = None,
    balls: Annotated[
        Optional[int], typer.Option(help="number of rolling elements (with --ball-mm, --pitch-mm)")
    ] = None,
    ball_mm: Annotated[Optional[float], typer.Option("--ball-mm", help="rolling element diameter, mm")] = None,
    pitch_mm: Annotated[Optional[float], typer.Option("--pitch-mm", help="pitch diameter, mm")] = None,
    contact_deg: Annotated[float, typer.Option("--contact-deg", help="contact angle, degrees")] = 0.0,
    block: Annotated[Optional[int], typer.Option(help="samples per block (default one second, at least 8192)")] = None,
    channel: Annotated[
        Optional[str], typer.Option(help=".mat: variable or position DE/FE/BA (default DE: *_DE_time)")
    ] = None,
    column: Annotated[Optional[str], typer.Option(help="CSV/npy: the column (name or number from 1)")] = None,
    band: Annotated[
        Optional[tuple[float, float]], typer.Option(help="band to demodulate, Hz (default: spectral kurtosis)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json/--no-json", help="one JSON object per file, one per line")] = False,
) -> None:
    """Name the bearing defect a vibration record shows (outer race, inner race, ball, cage) or call it healthy.

    Each record is cut into blocks; each block is diagnosed, and the record as a whole from the
    blocks' envelope spectra averaged (far steadier than one short block). Prints per record the
    verdict, the mode named, every mode's peak-to-floor ratio and the band demodulated.
    Exit status 2 when a file could not be diagnosed (the others still are).
    """
    if rpm is not None and shaft_hz is not None:
        _fail("give --rpm or --shaft-hz, not both")
    for name, value in (("--rate-hz", rate_hz), ("--rpm", rpm), ("--shaft-hz", shaft_hz), ("--block", block)):
        if value is not None and not value > 0:
            _fail(f"{name} {value:g}: must be positive")
    try:
        _, geometry = bearing_geometry(bearing, balls, ball_mm, pitch_mm, contact_deg)
    except ValueError as exc:
        _fail(str(exc))
    shaft = shaft_hz or (rpm / 60.0 if rpm else None)
    failed = 0
    for path in _files(files):
        try:
            d = diagnose_file(path, geometry, rate_hz, shaft, block, channel, column, band)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            failed += 1
            if as_json:
                typer.echo(json.dumps({"file": str(path), "error": str(exc)}))
            typer.echo(f"{path}: {exc}", err=True)
            continue
        if as_json:
            typer.echo(json.dumps(d))
        else:
            _print(d)
    if failed:
        raise typer.Exit(2)
