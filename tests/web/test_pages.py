"""The web pages in headless Chromium against the real app: what an engineer sees and does.

Each test opens pages of a running service (``conftest.service``) and checks the result twice: on
the page, and through the API; a script error on any page fails the test that opened it.
Screenshots of every page go to ``$FAULTLINE_SCREENSHOTS`` (default ``/tmp/faultline-web``) for a
person to look at.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.web.conftest import finding, readings_until

SHOTS = Path(os.environ.get("FAULTLINE_SCREENSHOTS", "/tmp/faultline-web"))


def screenshot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def order_row(page, order_id: int):
    return page.locator(f"#queue tbody tr[data-order-id='{order_id}']")


def act(service, order_id: int, action: str, body: dict | None = None) -> dict:
    response = service.api.post(f"/api/v1/work-orders/{order_id}/{action}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_queue_is_ordered_by_time_left_and_counts_down(service, open_page):
    page = open_page("/work-orders")
    expect(order_row(page, service.orders["preventive"])).to_be_visible()
    shown = page.locator("#queue tbody tr").evaluate_all("rows => rows.map(r => Number(r.dataset.orderId))")
    o = service.orders
    # the P1 has 15 minutes to respond, the P2 two business hours, the P4 a week to resolve
    assert shown.index(o["emergency"]) < shown.index(o["corrective"]) < shown.index(o["preventive"])
    dues = page.locator("#queue td.countdown").evaluate_all("cells => cells.map(c => Number(c.dataset.due))")
    assert dues == sorted(dues)
    api_due = service.api.get(f"/api/v1/work-orders/{o['emergency']}").json()["response_due"]
    first = order_row(page, o["emergency"]).locator("td.countdown")
    assert int(first.get_attribute("data-due")) == int(_epoch_ms(api_due))
    before = first.inner_text()
    expect(first).not_to_have_text(before, timeout=3000)  # ticking every second
    screenshot(page, "work-orders")


def _epoch_ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() * 1000


def test_countdowns_run_on_the_servers_clock_not_the_tablets(service, open_page):
    two_hours_slow = "const realNow = Date.now; Date.now = () => realNow() - 2 * 3600e3;"
    page = open_page("/work-orders", script=two_hours_slow)
    order = service.api.get(f"/api/v1/work-orders/{service.orders['preventive']}").json()
    cell = order_row(page, order["id"]).locator("td.countdown")
    expect(cell).to_contain_text(":")
    days, _, clock = cell.inner_text().rpartition(" d ")
    h, m, sec = (int(x) for x in clock.split(":"))
    shown = int(days or 0) * 86400 + h * 3600 + m * 60 + sec
    left = _epoch_ms(order["resolution_due"]) / 1000 - datetime.now(UTC).timestamp()
    assert abs(shown - left) < 60, f"shows {shown} s left, the deadline is {left:.0f} s away"


def test_acknowledge_from_the_queue(service, open_page):
    order_id = service.orders["emergency"]
    page = open_page("/work-orders")
    row = order_row(page, order_id)
    row.get_by_role("button", name="Acknowledge").click()
    expect(row.locator(".badge.acknowledged")).to_have_text("acknowledged")
    expect(page.locator("#message")).to_contain_text("WO-%06d: acknowledged" % order_id)
    order = service.api.get(f"/api/v1/work-orders/{order_id}").json()
    assert order["status"] == "acknowledged" and order["acknowledged_at"] is not None
    last = service.api.get(f"/api/v1/work-orders/{order_id}/audit").json()[-1]
    assert (last["action"], last["actor"]) == ("acknowledge", "ada admin")


def test_queue_shows_changes_made_elsewhere_live(service, open_page):
    order_id = service.orders["corrective"]
    page = open_page("/work-orders")
    expect(page.locator("#live-state")).to_have_text("live")  # the event stream, not polling
    expect(order_row(page, order_id).locator(".badge.open")).to_be_visible()
    act(service, order_id, "acknowledge")
    # polling would take 5 s; the event stream brings the change at once
    expect(order_row(page, order_id).locator(".badge.acknowledged")).to_be_visible(timeout=3000)


def test_fleet_shows_new_readings_as_they_arrive(service, open_page):
    from faultline.ingest.readings import Readings, SeriesKey

    page = open_page("/")
    value = page.locator("#fleet .asset-card[data-asset='pump-2'] dd[data-sensor='vibration_rms']")
    expect(value).to_be_visible()
    expect(page.locator("#live-state")).to_have_text("live")
    # an ordinary reading (no spike), a minute after the newest so far (a longer gap would make the
    # other streams look silent to the deadman)
    new = 2.2 if value.inner_text() != "2.20 mm/s" else 2.25
    at = max(x.ts_ns for x in service.runtime.detection.latest.values()) + 60 * 10**9
    key = SeriesKey.of("telemetry", {"site": "north", "asset": "pump-2", "sensor": "vibration_rms"})
    service.runtime.detection.handle(Readings((key,), np.zeros(1, np.int32), np.array([at]), np.array([new])))
    expect(value).to_have_text(f"{new:.2f} mm/s", timeout=4000)  # the event stream, not the 30 s reload
    screenshot(page, "fleet")


def test_queue_polls_when_the_event_stream_is_unavailable(service, open_page):
    page = open_page("/work-orders")
    page.route("**/api/v1/events", lambda route: route.abort())  # e.g. a proxy that buffers streams
    page.clock.install()  # the page's timers, moved on below instead of waited for
    page.reload()
    expect(page.locator("#live-state")).to_have_text("polling")
    shown = page.locator("#queue tbody tr[data-order-id]")
    expect(shown.first).to_be_visible()
    count = shown.count()
    now = datetime.now(UTC)
    event = service.runtime.intake.receive(
        finding("pump-2", "misalignment", "medium", now - timedelta(minutes=30), now)
    )
    page.clock.run_for(4000)
    expect(order_row(page, event.order.id)).to_have_count(0)  # not yet: the page asks every 5 s
    page.clock.run_for(1000)
    expect(order_row(page, event.order.id)).to_be_visible()
    assert shown.count() == count + 1


def test_a_junior_engineer_sees_why_closing_an_emergency_order_is_refused(service, open_page):
    order_id = service.orders["to_close"]
    act(service, order_id, "acknowledge")
    act(service, order_id, "start")
    act(service, order_id, "resolve", {"outcome": "fault_confirmed", "notes": "regreased"})
    page = open_page(f"/work-orders/{order_id}", token=service.junior_token)
    expect(page.locator("#order-status")).to_have_text("resolved")
    expect(page.locator("#evidence-chart svg .threshold-label").first).to_be_visible()
    page.get_by_role("button", name="Close").click()
    message = page.locator("#message")
    expect(message).to_contain_text("Not allowed (403)")
    expect(message).to_contain_text("junior_engineer may not close P1 emergency_repair orders: only senior_engineer")
    assert service.api.get(f"/api/v1/work-orders/{order_id}").json()["status"] == "resolved"
    expect(page.locator("#order-status")).to_have_text("resolved")


def test_order_page_puts_a_hold_on_and_off_with_the_clock_stopped(service, open_page):
    order_id = service.orders["preventive"]
    page = open_page(f"/work-orders/{order_id}")
    for button in ("Acknowledge", "Start work"):
        page.get_by_role("button", name=button).click()
        expect(page.get_by_role("button", name=button)).to_be_hidden()
    page.locator("#hold-reason").select_option("awaiting_parts")
    page.get_by_role("button", name="Hold").click()
    expect(page.locator("#order-status")).to_have_text("on hold")
    expect(page.locator("#order-facts .countdown.paused").first).to_contain_text("paused")
    order = service.api.get(f"/api/v1/work-orders/{order_id}").json()
    assert order["status"] == "on_hold" and order["holds"][-1]["reason"] == "awaiting_parts"
    assert order["sla"]["paused"] is True
    screenshot(page, "order-on-hold")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#order-status")).to_have_text("in progress")
    page.locator("#comment-text").fill("bearing on order, ETA Tuesday")
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator("#comments")).to_contain_text("bearing on order, ETA Tuesday")
    comments = service.api.get(f"/api/v1/work-orders/{order_id}").json()["comments"]
    assert [c["text"] for c in comments] == ["bearing on order, ETA Tuesday"]


def test_assign_an_order_to_another_engineer_of_its_site(service, open_page):
    order_id = service.orders["corrective"]
    engineers = service.api.get("/api/v1/engineers", params={"site": "north"}).json()
    assert {e["name"] for e in engineers} == {"anna.schmidt", "jonas.weber", "lea.fischer", "marta.nowak"}
    before = service.api.get(f"/api/v1/work-orders/{order_id}").json()["assignee"]
    other = next(e["name"] for e in engineers if e["name"] != before)
    page = open_page(f"/work-orders/{order_id}")
    expect(page.locator(f"#engineer option[value='{other}']")).to_have_count(1)
    page.locator("#engineer").select_option(other)
    page.get_by_role("button", name="Assign").click()
    expect(page.locator("#order-facts")).to_contain_text(other)
    assert service.api.get(f"/api/v1/work-orders/{order_id}").json()["assignee"] == other
    expect(page.locator("#history")).to_contain_text("assign")


def test_backtest_preview_before_apply_then_roll_back(service, open_page):
    page = open_page("/tuning")
    limit = page.locator("tr[data-check='default.bearing_temp_limit'] input[data-key='high']")
    expect(limit).to_have_value("85")
    limit.fill("50")  # below the bearings' normal 55 °C: every asset would alarm
    page.locator("#note").fill("try 50 °C")
    page.get_by_role("button", name="Run backtest").click()
    table = page.locator("#backtest-table")
    expect(table).to_be_visible(timeout=30000)

    def cells(measure):
        return table.locator(f"tr[data-measure='{measure}'] td.num").all_inner_texts()

    now, proposed, _ = (float(x) for x in cells("overheating"))
    assert now == 0 and proposed >= 3  # one overheating episode per asset at least
    now, proposed, _ = (float(x) for x in cells("work_orders"))
    assert proposed > now
    expect(page.locator("#preview")).to_contain_text("Work orders only the proposal would open")
    expect(page.locator("#preview")).to_contain_text("pump-1 · overheating")
    # nothing has changed yet
    assert service.api.get("/api/v1/detectors").json()["current"]["number"] == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#preview").screenshot(path=str(SHOTS / "tuning-backtest.png"))

    page.get_by_role("button", name="Apply v2").click()
    expect(page.locator("#message")).to_contain_text("v2 is now in force")
    current = service.api.get("/api/v1/detectors").json()["current"]
    assert current["number"] == 2 and current["note"] == "try 50 °C"
    assert current["config"]["classes"]["default"]["checks"]["bearing_temp_limit"]["params"]["high"] == 50
    expect(page.locator("#current-version")).to_have_text("v2")

    page.get_by_role("button", name="Roll back to the previous version").click()
    expect(page.locator("#current-version")).to_have_text("v1")
    screenshot(page, "tuning")
    assert service.api.get("/api/v1/detectors").json()["current"]["number"] == 1


def test_shadow_mode_records_what_a_proposal_would_report_without_opening_orders(service, open_page):
    page = open_page("/tuning")
    limit = page.locator("tr[data-check='default.bearing_temp_limit'] input[data-key='high']")
    expect(limit).to_have_value("85")
    limit.fill("50")
    page.get_by_role("button", name="Run backtest").click()
    page.get_by_role("button", name="Run it in shadow mode first").click()
    expect(page.locator("#shadow-state")).to_contain_text("runs beside it")
    shadow = service.api.get("/api/v1/detectors").json()["shadow"]
    assert shadow is not None and service.api.get("/api/v1/detectors").json()["current"]["number"] == 1
    orders_before = len(service.api.get("/api/v1/work-orders").json())

    # the next 40 minutes of readings: bearings at their usual 55 °C, above the proposal's 50
    now = datetime.now(UTC)
    service.runtime.detection.handle(readings_until(now + timedelta(minutes=40), minutes=40, seed=8, wearing=False))
    page.reload()
    expect(page.locator("#shadow-findings")).to_contain_text(f"What v{shadow} would have reported")
    expect(page.locator("#shadow-findings")).to_contain_text("pump-1 · bearing temp · overheating")
    assert len(service.api.get("/api/v1/work-orders").json()) == orders_before

    page.get_by_role("button", name="Stop shadow mode").click()
    expect(page.locator("#shadow-state")).to_have_text("off")
    assert service.api.get("/api/v1/detectors").json()["shadow"] is None


def test_asset_page_draws_the_limits_in_force_and_marks_the_orders_evidence(service, open_page):
    page = open_page("/assets/pump-1")
    temperature = page.locator(".chart-box[data-sensor='bearing_temp'] svg")
    expect(temperature.locator(".threshold-label", has_text="high limit 85")).to_be_visible()
    expect(temperature.locator(".threshold-label", has_text="limit 90")).to_be_visible()  # the trend's limit
    vibration = page.locator(".chart-box[data-sensor='vibration_rms'] svg")
    number = "WO-%06d" % service.orders["emergency"]
    expect(vibration.locator(".mark-label", has_text=number)).to_be_visible()
    readings = service.api.get("/api/v1/readings", params={"asset": "pump-1", "sensor": "bearing_temp"}).json()
    assert readings["thresholds"]["bearing_temp_limit"]["high"] == 85
    screenshot(page, "asset-pump-1")


def test_kpi_page_shows_the_apis_figures(service, open_page):
    page = open_page("/kpis")
    headline = page.locator("#headline .card", has_text="Orders opened").locator(".kpi-value")
    expect(headline).not_to_have_text("")
    since = (datetime.now(UTC) - timedelta(weeks=8)).isoformat()
    kpis = service.api.get("/api/v1/kpis", params={"since": since}).json()
    assert headline.inner_text() == str(kpis["orders_opened"])
    expect(page.locator("#backlog svg .bar-label")).to_have_text(list(kpis["backlog"]))
    screenshot(page, "kpis")


def test_dead_letters_are_listed_and_replayed(service, open_page):
    from faultline.ingest.deadletter import DeadLetter

    now = datetime.now(UTC)
    topic = "faultline/north/pump-2/vibration_rms"
    reading = ('{"ts": %d, "value": 2.05}' % ((now.timestamp() - 60) * 1000)).encode()
    fixed, broken = service.runtime.dead_letters.add_many(
        [
            DeadLetter(int(now.timestamp() * 1e9), topic, reading, "stored before the decoder knew this gateway"),
            DeadLetter(int(now.timestamp() * 1e9), topic, b"{oops", "not JSON: expecting property name"),
        ]
    )
    page = open_page("/dead-letters")
    row = page.locator(f"#dead-letters tr[data-id='{fixed}']")
    expect(row).to_contain_text("stored before the decoder knew this gateway")
    row.get_by_role("button", name="Replay").click()
    expect(page.locator("#message")).to_contain_text(f"Dead letter {fixed} replayed: 1 readings")
    expect(row).to_have_count(0)
    page.locator(f"#dead-letters tr[data-id='{broken}']").get_by_role("button", name="Replay").click()
    expect(page.locator("#message")).to_contain_text(f"Dead letter {broken} still fails")
    left = [r["id"] for r in service.api.get("/api/v1/dead-letters").json()]
    assert broken in left and fixed not in left
    screenshot(page, "dead-letters")


def test_without_a_token_the_page_says_so(service, open_page):
    page = open_page("/work-orders", token="")
    expect(page.locator("#message")).to_contain_text("Not signed in (401)")
    expect(page.locator("#token-state")).to_have_text("no token")


@pytest.mark.parametrize(
    "path, ready",
    [
        ("/work-orders", "#queue tbody tr[data-order-id]"),
        ("/work-orders/{emergency}", "#evidence-chart svg"),
        ("/", "#fleet .asset-card"),
    ],
)
def test_pages_fit_a_tablet_held_upright(service, open_page, path, ready):
    path = path.format(**service.orders)
    page = open_page(path, width=768, height=1024)
    expect(page.locator(ready).first).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow} px on a 768 px wide screen"
    screenshot(page, "tablet-" + (path.strip("/").replace("/", "-") or "fleet"))
