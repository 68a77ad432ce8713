"""The browser tests' world: the real app on a free port, with readings and work orders in it.

One service per test module: SQLite readings (a day of one reading a minute per sensor, with the
vibration of ``pump-1`` rising over the last hours), a SQLite work-order store with orders opened
through ticketing's intake from findings, and tokens for an admin and a junior engineer. The browser
is Debian's ``chromium`` driven by Playwright; Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

CHROMIUM = os.environ.get("FAULTLINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SENSORS = {"vibration_rms": (2.0, 0.15), "bearing_temp": (55.0, 0.8), "motor_current": (31.0, 0.5)}
ASSETS = ("pump-1", "pump-2", "fan-3")
SITE = "north"


@dataclass
class Service:
    """A running service as the tests see it."""

    url: str
    runtime: object
    admin_token: str
    junior_token: str
    orders: dict[str, int]  # what each seeded order is for -> its id
    api: object  # httpx.Client with the admin token

    def page_url(self, path: str) -> str:
        return self.url + path


def readings_until(end: datetime, minutes: int = 24 * 60, seed: int = 7, wearing: bool = True):
    """One reading a minute for every asset and sensor, the last at ``end``; with ``wearing``,
    pump-1's vibration rises over the last four hours (a bearing wearing out)."""
    from faultline.ingest.readings import Readings, SeriesKey

    rng = np.random.default_rng(seed)
    ts = (int(end.timestamp()) - 60 * np.arange(minutes)[::-1]) * 1_000_000_000
    series, index, times, values = [], [], [], []
    for asset in ASSETS:
        for sensor, (level, noise) in SENSORS.items():
            v = level + rng.normal(0, noise, minutes)
            if wearing and asset == "pump-1" and sensor == "vibration_rms":
                v[-240:] += np.linspace(0, 6.5, 240)
            index.append(np.full(minutes, len(series), np.int32))
            series.append(SeriesKey.of("telemetry", {"site": SITE, "asset": asset, "sensor": sensor}))
            times.append(ts)
            values.append(v)
    return Readings(tuple(series), np.concatenate(index), np.concatenate(times), np.concatenate(values))


def finding(asset: str, fault_mode: str, severity: str, started_at: datetime, now: datetime, **extra):
    from faultline.ticketing import FindingIn

    return FindingIn(
        site=SITE,
        asset=asset,
        sensor="vibration_rms",
        fault_mode=fault_mode,
        severity=severity,
        score=2.4,
        started_at=started_at,
        detector="iso_zones",
        detector_version="1",
        rule="vibration_zone",
        config_version="v1",
        thresholds={"ab": 2.3, "bc": 4.5, "cd": 7.1},
        evidence={
            "min": 4.6,
            "max": 8.4,
            "mean": 6.7,
            "n": 180,
            "window_start": started_at.isoformat(),
            "window_end": now.isoformat(),
        },
        **extra,
    )


def _settings(tmp: Path):
    from faultline.service.settings import settings_from_dict
    from faultline.ticketing import default_ticketing_config

    detectors = yaml.safe_load((Path(__file__).parents[2] / "config" / "detectors.yaml").read_text())
    return settings_from_dict(
        {
            "store": {"kind": "sqlite", "path": str(tmp / "readings.sqlite")},
            "spool": {"path": str(tmp / "spool")},
            "ingest": {"dead_letter_path": str(tmp / "dead-letter.sqlite")},
            "service": {"state_path": str(tmp / "service.sqlite"), "port": 0},
            "detectors": detectors["detectors"],
            "ticketing": {
                **default_ticketing_config().model_dump(mode="json", by_alias=True),
                "store_url": f"sqlite:///{tmp}/orders.sqlite",
                "asset_criticality": {"pump-1": "A", "pump-2": "B", "fan-3": "C"},
            },
        }
    )


def _seed(runtime, now: datetime) -> dict[str, int]:
    """Orders of three priorities opened through the intake, as findings would open them."""
    from faultline.ingest.writers import SqliteStore

    readings = readings_until(now)
    store = SqliteStore(runtime.settings.store.path)
    try:
        store.write(readings)
    finally:
        store.close()
    runtime.detection.handle(readings)  # the latest readings per asset, as live ingest leaves them
    intake = runtime.intake
    orders = {}
    for name, asset, fault, severity, ago in (
        ("emergency", "pump-1", "bearing_outer_race", "critical", 3),
        ("corrective", "pump-2", "imbalance", "high", 2),
        ("preventive", "fan-3", "looseness", "medium", 1),
        ("to_close", "pump-1", "lubrication_loss", "critical", 2),
    ):
        event = intake.receive(finding(asset, fault, severity, now - timedelta(hours=ago), now))
        orders[name] = event.order.id
    return orders


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    import httpx

    from faultline.service.app import create_app
    from faultline.service.runtime import Runtime, serve

    tmp = tmp_path_factory.mktemp("web")
    runtime = Runtime(_settings(tmp))
    now = datetime.now(UTC)
    orders = _seed(runtime, now)
    _, admin = runtime.tokens.create("admin", "ada admin", now)
    _, junior = runtime.tokens.create("junior_engineer", "jo junior", now)
    app = create_app(runtime.settings, runtime)

    listening = threading.Event()
    where: dict[str, object] = {}

    def run() -> None:
        async def main() -> None:
            stop = asyncio.Event()
            where["stop"], where["loop"] = stop, asyncio.get_running_loop()
            await serve(
                runtime,
                app,
                "127.0.0.1",
                0,
                stop,
                on_listening=lambda url: (where.__setitem__("url", url), listening.set()),
            )

        asyncio.run(main())

    thread = threading.Thread(target=run, name="web-test-service", daemon=True)
    thread.start()
    assert listening.wait(20), "the service did not start listening"
    url = str(where["url"])
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    yield Service(url, runtime, admin, junior, orders, client)
    client.close()
    where["loop"].call_soon_threadsafe(where["stop"].set)
    thread.join(30)
    runtime.close()


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, service):
    """``open_page(path, token=None, width=1200, height=900, script="")``: a new browser page at
    ``path`` with ``token`` (default the admin's) saved as the API token and ``script`` run before the
    page's own. A script error on any page opened fails the test."""
    contexts = []

    def open_(path: str, token: str | None = None, width: int = 1200, height: int = 900, script: str = ""):
        context = browser.new_context(viewport={"width": width, "height": height}, has_touch=width < 1000)
        contexts.append(context)
        if script:
            context.add_init_script(script)
        saved = service.admin_token if token is None else token
        context.add_init_script(f"localStorage.setItem('faultline.token', {saved!r});")
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(service.page_url(path))
        return page

    yield open_
    errors = [e for context in contexts for page in context.pages for e in page.errors]
    for context in contexts:
        context.close()
    assert errors == [], f"script errors on the page: {errors}"
