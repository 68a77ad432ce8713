"""The queue and the order page on a phone (360 × 740, touch) and on a desktop, in headless Chromium.

What an engineer beside a machine needs without zooming or scrolling sideways: in the queue, each
order's fault, asset, priority and time left; on the order page, the SLA clocks and evidence chart,
and the steps their role allows at the bottom of the screen where the thumb reaches, large enough to
tap. Screenshots go to ``$FAULTLINE_SCREENSHOTS`` (default ``/tmp/faultline-web``) as artefacts.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.test_pages import SHOTS, act, order_row, screenshot

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
TOUCH_TARGET_PX = 44  # the smallest comfortable tap target (Apple HIG 44 pt, Material 48 dp)


def sideways_overflow(page) -> int:
    """How far the page scrolls sideways (px); > 0 names the widest elements in the assertion."""
    over = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if over > 0:
        wide = page.evaluate("""[...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth && !e.closest('.scroll-x'))
            .slice(0, 5).map((e) => `${e.tagName}#${e.id}.${e.className} right=${e.getBoundingClientRect().right}`)""")
        print("wider than the screen:", wide)
    return over


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not laid out"
    return found


def test_the_queue_on_a_phone_shows_fault_asset_priority_and_time_left(service, open_page):
    page = open_page("/work-orders", **PHONE)
    order_id = service.orders["corrective"]
    row = order_row(page, order_id)
    expect(row).to_be_visible()
    order = service.api.get(f"/api/v1/work-orders/{order_id}").json()
    expect(row.locator(".c-fault")).to_have_text(order["fault_mode"].replace("_", " "))
    expect(row.locator(".c-asset")).to_have_text(order["asset"])
    expect(row.locator(".c-priority")).to_have_text(order["priority"])
    expect(row.locator(".c-left")).to_contain_text(":")  # counting down
    for cell in (".c-number", ".c-fault", ".c-asset", ".c-priority", ".c-left"):
        b = box(row.locator(cell))
        assert b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"], f"{cell} is cut off at 360 px: {b}"
    assert sideways_overflow(page) <= 0
    screenshot(page, "phone-work-orders")


def test_the_order_page_on_a_phone_is_usable_with_one_thumb(service, open_page):
    order_id = service.orders["emergency"]
    page = open_page(f"/work-orders/{order_id}", **PHONE)
    expect(page.locator("#evidence-chart svg")).to_be_visible()
    respond = page.locator("#clocks .clock").first
    expect(respond).to_contain_text("Respond")
    expect(respond.locator(".countdown")).to_contain_text(":")
    assert box(page.locator("#clocks")).get("y") + box(page.locator("#clocks"))["height"] <= PHONE["height"], (
        "the SLA clocks are not on the first screen"
    )
    button = page.get_by_role("button", name="Acknowledge")
    expect(button).to_be_visible()
    b = box(button)
    assert b["height"] >= TOUCH_TARGET_PX and b["width"] >= TOUCH_TARGET_PX, f"Acknowledge is too small to tap: {b}"
    # in the lower half of the screen without scrolling: where the thumb of the holding hand reaches
    assert PHONE["height"] / 2 <= b["y"] and b["y"] + b["height"] <= PHONE["height"], b
    assert sideways_overflow(page) <= 0
    screenshot(page, "phone-order")
    page.screenshot(path=str(SHOTS / "phone-order-screen.png"))  # what the phone shows: the README tour's picture
    button.tap()
    expect(page.locator("#order-status")).to_have_text("acknowledged")
    assert service.api.get(f"/api/v1/work-orders/{order_id}").json()["status"] == "acknowledged"
    start = page.get_by_role("button", name="Start work")
    expect(start).to_be_visible()
    page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")  # still in reach after scrolling
    s = box(start)
    assert PHONE["height"] / 2 <= s["y"] and s["y"] + s["height"] <= PHONE["height"], s


def test_steps_the_role_may_not_take_are_marked_with_the_reason(service, open_page):
    order_id = service.orders["to_close"]
    act(service, order_id, "acknowledge")
    act(service, order_id, "start")
    act(service, order_id, "resolve", {"outcome": "fault_confirmed", "notes": "regreased"})
    steps = service.api.get(
        f"/api/v1/work-orders/{order_id}/steps", headers={"Authorization": f"Bearer {service.junior_token}"}
    ).json()
    assert steps["role"] == "junior_engineer"
    assert (
        steps["steps"]["close"]
        == {
            "allowed": False,
            "refused_by": "role",
            "reason": (
                "junior_engineer may not close P1 emergency_repair orders: only senior_engineer, manager, admin may "
                "(rule close.P1 + close.emergency_repair)"
            ),
        }
        or steps["steps"]["close"]["refused_by"] == "role"
    )
    assert steps["steps"]["acknowledge"]["refused_by"] == "status"
    assert steps["steps"]["comment"]["allowed"] is True
    page = open_page(f"/work-orders/{order_id}", token=service.junior_token, **PHONE)
    close = page.get_by_role("button", name="Close")
    expect(close).to_have_class("danger not-allowed")
    expect(page.locator("#not-allowed")).to_contain_text("junior_engineer may not close P1")
    expect(page.get_by_role("button", name="Acknowledge")).to_be_hidden()  # not a step from resolved
    admin = open_page(f"/work-orders/{order_id}", **PHONE)
    expect(admin.get_by_role("button", name="Close")).to_have_class("danger")
    expect(admin.locator("#not-allowed")).to_be_hidden()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_order_page_fits_phone_and_desktop(service, open_page, size):
    order_id = service.orders["corrective"]
    page = open_page(f"/work-orders/{order_id}", **size)
    expect(page.locator("#evidence-chart svg")).to_be_visible()
    expect(page.locator("#actions")).to_be_visible()
    assert sideways_overflow(page) <= 0
    screenshot(page, f"order-{size['width']}x{size['height']}")


def test_a_photo_taken_on_the_phone_is_attached_and_shown(service, open_page, tmp_path):
    from io import BytesIO

    from PIL import Image

    order_id = service.orders["preventive"]
    act(service, order_id, "comment", {"text": "belt worn on the drive side"})
    out = BytesIO()
    Image.new("RGB", (1600, 1200), (90, 120, 160)).save(out, "JPEG")
    page = open_page(f"/work-orders/{order_id}", **PHONE)
    expect(page.locator("#attachments")).to_contain_text("No photos or files yet.")
    page.locator("#attach-to").select_option("1")
    page.locator("#attach-file").set_input_files(
        {"name": "belt.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}
    )
    expect(page.locator("#attach-state")).to_have_text("belt.jpg attached.")
    [attachment] = service.api.get(f"/api/v1/work-orders/{order_id}").json()["attachments"]
    assert attachment["comment"] == 1 and attachment["kind"] == "photo"
    tile = page.locator(f"#attachments .tile[data-attachment-id='{attachment['id']}'] img")
    expect(tile).to_have_attribute("src", __import__("re").compile("^blob:"))
    assert page.evaluate("(img) => img.naturalWidth", tile.element_handle()) == 320  # the thumbnail, not the photo
    expect(page.locator("#comments")).to_contain_text("belt.jpg")
    assert sideways_overflow(page) <= 0
    screenshot(page, "phone-order-attachment")


def test_parts_needed_a_hold_naming_them_and_fitted(service, open_page):
    order_id = service.orders["corrective"]
    page = open_page(f"/work-orders/{order_id}", **PHONE)
    for button in ("Acknowledge", "Start work"):
        page.get_by_role("button", name=button).tap()
        expect(page.get_by_role("button", name=button)).to_be_hidden()
    page.locator("#part-number").fill("SKF-6205-2RS")
    page.locator("#part-quantity").fill("2")
    page.locator("#part-description").fill("deep groove ball bearing")
    page.get_by_role("button", name="Add needed part").tap()
    expect(page.locator("#parts tr[data-part='SKF-6205-2RS'][data-state='needed']")).to_contain_text("2")
    page.locator("#hold-reason").select_option("awaiting_parts")
    page.get_by_role("button", name="Hold").tap()
    expect(page.locator("#order-facts")).to_contain_text("awaiting parts: SKF-6205-2RS since")
    order = service.api.get(f"/api/v1/work-orders/{order_id}").json()
    assert order["holds"][-1]["parts"] == ["SKF-6205-2RS"]
    page.get_by_role("button", name="Resume").tap()
    page.locator("#parts tr[data-part='SKF-6205-2RS']").get_by_role("button", name="Fitted").tap()
    expect(page.locator("#parts tr[data-part='SKF-6205-2RS'][data-state='used']")).to_be_visible()
    assert service.api.get(f"/api/v1/work-orders/{order_id}").json()["parts"] == [
        {"number": "SKF-6205-2RS", "quantity": 2.0, "description": "deep groove ball bearing", "state": "used"}
    ]
    kpis = service.api.get("/api/v1/kpis").json()["parts_wait"]
    assert kpis["holds"] == 1 and kpis["orders"] == 1 and "SKF-6205-2RS" in kpis["hours_by_part"]
    assert sideways_overflow(page) <= 0
    screenshot(page, "phone-order-parts")


def test_the_service_report_downloads_from_the_order_page(service, open_page):
    from io import BytesIO

    from pypdf import PdfReader

    order_id = service.orders["emergency"]
    assert service.api.get(f"/api/v1/work-orders/{order_id}/report.pdf").status_code == 409  # not resolved yet
    steps_left = {"open": ["acknowledge", "start"], "acknowledged": ["start"], "in_progress": []}
    for step in steps_left[service.api.get(f"/api/v1/work-orders/{order_id}").json()["status"]]:
        act(service, order_id, step)
    act(service, order_id, "resolve", {"outcome": "fault_confirmed", "notes": "bearing replaced"})
    page = open_page(f"/work-orders/{order_id}", **PHONE)
    expect(page.locator("#report")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download PDF").tap()
    saved = download.value
    assert saved.suggested_filename == "WO-%06d-service-report.pdf" % order_id
    text = PdfReader(BytesIO(open(saved.path(), "rb").read())).pages[0].extract_text()
    assert "bearing replaced" in text and "Customer sign-off" in text
    html = service.api.get(f"/api/v1/work-orders/{order_id}/report.html")
    assert html.status_code == 200 and "bearing outer race" in html.text
