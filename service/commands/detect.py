"""`faultline score` (a CSV through the live engine) and `faultline evaluate` (detectors on the simulator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

import typer

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "detectors.yaml"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `faultline` app."""
    app.command("score")(score)
    app.command("evaluate")(evaluate)


def load_detectors_config(path: Path | None):
    """Read a ``detectors:`` section (or a whole service configuration holding one) from YAML.

    Exits with status 2 and one line per problem, naming the key, when it does not validate.
    """
    import yaml
    from pydantic import ValidationError

    from faultline.detectors import DetectorsConfig

    if path is None:
        return None
    from faultline.service.settings import yaml_problem

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        typer.echo(f"{path}: cannot read: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    except yaml.YAMLError as exc:
        typer.echo(f"{path}: {yaml_problem(exc)}", err=True)
        raise typer.Exit(2) from None
    section = data.get("detectors", data) if isinstance(data, dict) else data
    try:
        return DetectorsConfig.model_validate(section)
    except ValidationError as exc:
        typer.echo(f"{path}: invalid detectors configuration", err=True)
        for err in exc.errors():
            where = ".".join(str(p) for p in ("detectors", *err["loc"]))
            typer.echo(f"  {where}: {err['msg']} (got {err.get('input')!r})", err=True)
        raise typer.Exit(2) from None


def score(
    data: list[Path] = typer.Argument(..., help="CSV files: a timestamp column, then one column per sensor"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="scores CSV to write (one input file)"),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="directory for <name>.scores.csv of each file"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="detectors YAML; none = generic checks"),
    asset: str = typer.Option("csv", help="asset name the columns belong to (its class and overrides apply)"),
    timestamp: Optional[str] = typer.Option(
        None,
        help="timestamp column (default: the first of timestamp, ts, "
        "time, datetime, date); ISO 8601 or epoch s/ms/µs/ns",
    ),
    ignore: str = typer.Option("", help="comma-separated columns that are not sensors, e.g. anomaly,changepoint"),
    quiet: bool = typer.Option(False, "--quiet/--no-quiet", "-q", help="only the one-line summary per file"),
    dask: Optional[str] = typer.Option(
        None,
        "--dask",
        help="score the files on a Dask cluster: 'local' (a worker "
        "process per core) or a scheduler address tcp://host:8786",
    ),
    seasons: bool = typer.Option(
        False,
        "--seasons/--no-seasons",
        help="generic checks: learn a daily (weekly) profile where the file spans 4 days "
        "(4 weeks), used once it explains what the level leaves",
    ),
) -> None:
    """Score CSV files with exactly the engine that runs live; write per-row scores and the findings.

    Output per file: `timestamp`, `score` (0..1, calibrated: 0.5 is the alarm level), `flag` (1 while
    an anomaly finding is open), `detector` and `sensor` (the check and sensor that contributed
    most), and `score_<check>` per check (its own scale; its rule's `alarm` is in the findings).
    The findings, anomaly and data quality (stuck sensor, no data), go to `<out stem>.findings.jsonl`.
    Each file is scored independently with a fresh engine; the program starts once (with `--dask`,
    the files are spread over a Dask cluster's workers).
    """
    if out is not None and len(data) > 1:
        typer.echo("--out names one output file: give --out-dir for several input files", err=True)
        raise typer.Exit(2)
    if out is None and out_dir is None:
        typer.echo("give --out FILE (one input) or --out-dir DIR", err=True)
        raise typer.Exit(2)
    cfg = load_detectors_config(config)
    ignored = tuple(x.strip() for x in ignore.split(",") if x.strip())
    failed = 0
    if out is None:
        assert out_dir is not None  # checked above
        targets = [out_dir / f"{path.stem}.scores.csv" for path in data]
    else:
        targets = [out for _ in data]  # one input file (checked above)
    options = {"asset": asset, "timestamp_column": timestamp, "ignore": ignored, "seasons": seasons}
    if dask is None:  # one after the other, each reported as it is done
        outcomes: Iterable = (_score_file(path, target, cfg, quiet, options) for path, target in zip(data, targets))
    else:  # files are independent: one task each, the same output files as one after the other
        from faultline.service.fanout import dask_client

        with dask_client(dask) as client:
            outcomes = client.gather(
                [
                    client.submit(_score_file, path, target, cfg, True, options, pure=False)
                    for path, target in zip(data, targets)
                ]
            )
    for path, target, summary in zip(data, targets, outcomes):
        if isinstance(summary, Exception):
            typer.echo(f"{path}: {summary}", err=True)
            failed += 1
            continue
        for w in summary["warnings"]:
            typer.echo(f"{path}: warning: {w}", err=True)
        typer.echo(
            f"{path}: {summary['rows']} rows, {len(summary['sensors'])} sensors, "
            f"config {summary['config_version']}: {summary['flagged_rows']} rows flagged, "
            f"{len(summary['findings'])} findings, {len(summary['data_quality'])} data-quality findings "
            f"-> {target}"
        )
        if quiet:
            continue
        for f in summary["findings"] + summary["data_quality"]:
            end = f["ended_at"] or "open"
            typer.echo(
                f"  {f['started_at']} .. {end}  {f['sensor']:<20} {f['fault_mode']:<16} {f['severity']:<8} "
                f"score {f['score']:.2f}  ({f['rule']})"
            )
    if failed:
        raise typer.Exit(2)


def _score_file(path: Path, target: Path, cfg, quiet: bool, options: dict):
    """One file's summary, or the error that stopped it (returned, so a Dask task reports it too)."""
    from faultline.service.progress import progress_bar
    from faultline.service.scoring import score_csv

    try:
        with progress_bar(f"scoring {path.name}", quiet, "rows") as progress:
            return score_csv(path, target, cfg, progress=progress, **options)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        return exc


def evaluate(
    fleet: Path = typer.Option(Path("config/fleet.yaml"), help="simulator fleet YAML"),
    seed: Optional[list[int]] = typer.Option(None, help="simulation seed; repeat for several (default 1)"),
    seeds: Optional[str] = typer.Option(
        None, help="a named seed set of the fleet file: tuning or evaluation (never tune on evaluation)"
    ),
    mode: Optional[str] = typer.Option(None, help="easy or hard (real-plant properties); default: the fleet file's"),
    duration: str = typer.Option("14d", help="simulated span, e.g. 14d"),
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="detectors YAML (default config/detectors.yaml)"
    ),
    as_json: bool = typer.Option(False, "--json/--no-json", help="print the result as JSON"),
    quiet: bool = typer.Option(
        False, "--quiet/--no-quiet", "-q", help="no progress bar (none is drawn when stderr is not a terminal either)"
    ),
    dask: Optional[str] = typer.Option(
        None,
        "--dask",
        help="run the seeds on a Dask cluster: 'local' (a worker "
        "process per core) or a scheduler address tcp://host:8786",
    ),
) -> None:
    """Simulate the fleet offline, run detectors and rules, report recall, precision, false alarms, lead time.

    With several seeds (or `--seeds`) a pooled line follows: counts added over the seeds, then the ratios.
    """
    from datetime import datetime, timezone

    from faultline.service.evaluate import evaluate as run_evaluation
    from faultline.service.evaluate import pooled
    from faultline.vocabulary import parse_duration
    from faultline.simulators import Fleet, FleetError

    if mode is not None and mode not in ("easy", "hard"):
        typer.echo(f"--mode {mode!r}: use easy or hard", err=True)
        raise typer.Exit(2)
    if seeds is not None and seeds not in ("tuning", "evaluation"):
        typer.echo(f"--seeds {seeds!r}: use tuning or evaluation (or --seed N, repeated)", err=True)
        raise typer.Exit(2)
    if seeds is not None and seed:
        typer.echo("give --seeds or --seed, not both", err=True)
        raise typer.Exit(2)
    cfg = load_detectors_config(config or DEFAULT_CONFIG)
    try:
        fl = Fleet.from_yaml(fleet)
    except FleetError as exc:
        typer.echo(f"{fleet}: {exc}", err=True)
        raise typer.Exit(2) from None
    chosen = list(getattr(fl.seeds, seeds)) if seeds else (seed or [1])
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    from faultline.service.progress import progress_bar

    span = parse_duration(duration)
    results = []
    with progress_bar("evaluating", quiet, "seeds") as progress:
        progress(0, len(chosen))
        if dask is None:
            for s in chosen:
                results.append(run_evaluation(fl, s, start, span, cfg, mode))
                progress(len(results), len(chosen))
        else:  # seeds are independent runs: one task each, the same results as one after the other
            from faultline.service.fanout import dask_client

            with dask_client(dask) as client:
                results = client.gather(
                    [client.submit(run_evaluation, fl, s, start, span, cfg, mode, pure=False) for s in chosen]
                )
            progress(len(results), len(chosen))
    if as_json:
        if seeds is None:
            typer.echo(json.dumps(results[0] if len(results) == 1 else results, indent=2))
        else:
            typer.echo(json.dumps({"seed_set": seeds, "pooled": pooled(results), "runs": results}, indent=2))
        return
    for r in results:
        typer.echo(format_result(r))
    if len(results) > 1:
        typer.echo(format_pooled(pooled(results), seeds))


def _f(x, fmt="{:.2f}"):
    return "—" if x is None else fmt.format(x)


def format_pooled(p: dict, seed_set: str | None) -> str:
    """One line for several seeds: counts added over the seeds, then the ratios."""
    name = f"{seed_set} seeds" if seed_set else "seeds"
    return (
        f"pooled over {name} {', '.join(str(s) for s in p['seeds'])} ({p['mode']}): "
        f"recall {_f(p['recall'])} ({p['equipment_detected']}/{p['equipment_faults']})  "
        f"precision {_f(p['precision'])}  false alarms/asset-week {_f(p['false_alarms_per_asset_week'], '{:.3f}')}  "
        f"({p['findings']} findings, {p['false_alarms']} false, {p['asset_weeks']:.1f} asset-weeks); "
        f"data quality: recall {_f(p['data_quality_recall'])}  precision {_f(p['data_quality_precision'])}  "
        f"false/asset-week {_f(p['data_quality_false_alarms_per_asset_week'], '{:.3f}')}" + _breakdown(p)
    )


def _breakdown(p: dict) -> str:
    """Recall per fault mode and false alarms per check, pooled: where to look first."""
    modes = "  ".join(f"{mode} {m['detected']}/{m['labels']}" for mode, m in p.get("recall_by_fault_mode", {}).items())
    lines = [f"\n  recall by fault mode: {modes}" if modes else ""]
    for key, name in (
        ("false_alarms_by_rule", "false alarms by check"),
        ("data_quality_false_alarms_by_rule", "data-quality false alarms by check"),
    ):
        if p.get(key):
            lines.append(f"\n  {name}: " + "  ".join(f"{rule} {n}" for rule, n in p[key].items()))
    return "".join(lines)


def format_result(r: dict) -> str:
    """The evaluation as a plain-text table."""
    o = r["overall"]
    f = _f

    lines = [
        f"seed {r['seed']} · mode {r.get('mode', 'easy')} · config {r['config_version']}",
        f"overall: recall {f(o['recall'])}  precision {f(o['precision'])}  "
        f"false alarms/asset-week {f(o['false_alarms_per_asset_week'], '{:.3f}')}  "
        f"median lead {f(o['median_lead_fraction'])}  "
        f"({o['equipment_faults']} equipment faults, {o['findings']} anomaly findings, {o['false_alarms']} false)",
        f"{'fault mode':<20}{'labels':>7}{'detected':>9}{'recall':>8}{'lead':>7}{'findings':>9}{'false':>6}"
        f"{'precision':>10}",
    ]
    for mode, m in r["by_fault_mode"].items():
        lines.append(
            f"{mode:<20}{m['labels']:>7}{f(m['detected'], '{}'):>9}{f(m['recall']):>8}"
            f"{f(m['median_lead_fraction']):>7}{m['findings']:>9}{m['false_alarms']:>6}"
            f"{f(m['precision']):>10}"
        )
    dq = r.get("data_quality")
    if dq:
        lines.insert(
            2,
            f"data quality: recall {f(dq['recall'])} ({dq['detected']}/{dq['labels']} sensor and gateway "
            f"labels)  precision {f(dq['precision'])}  false/asset-week "
            f"{f(dq['false_alarms_per_asset_week'], '{:.3f}')}  ({dq['findings']} findings, "
            f"{dq['false_alarms']} false)",
        )
    for key, name in (
        ("false_alarms_by_rule", "false alarms by check"),
        ("data_quality_false_alarms_by_rule", "data-quality false alarms by check"),
    ):
        if r.get(key):
            lines.append(f"{name}: " + "  ".join(f"{rule} {n}" for rule, n in r[key].items()))
    for fa in r.get("false_alarms", []):
        kind = " data quality" if fa.get("kind") == "data_quality" else ""
        lines.append(
            f"  false alarm{kind}: {fa['started_at']} {fa['asset']} {fa['sensor']} {fa['rule']} ({fa['fault_mode']})"
        )
    return "\n".join(lines)
