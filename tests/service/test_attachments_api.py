"""Attachments through the HTTP API: upload the body, download it back, limits as 413/415."""

from __future__ import annotations

import hashlib
from io import BytesIO

import pytest

from tests.service.conftest import SITE, service_settings


def photo_bytes(size=(900, 600)) -> bytes:
    from PIL import Image

    out = BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(out, "JPEG", quality=95)  # noise: a large file
    return out.getvalue()


@pytest.fixture
def api_small(tmp_path):
    """The app with small attachment limits (photo 1.5 MB) and the API's own 1 MiB body limit."""
    from fastapi.testclient import TestClient

    from faultline.service.app import create_app
    from faultline.service.runtime import Runtime
    from tests.service.conftest import ROLES, Api

    settings = service_settings(tmp_path, attachments={"max_bytes": {"photo": 1_500_000, "document": 10_000}})
    runtime = Runtime(settings)
    tokens = {role: runtime.tokens.create(role, f"{role}-1", runtime.clock.now())[1] for role in ROLES}
    with TestClient(create_app(settings, runtime)) as client:
        yield Api(client, runtime, tokens)
    runtime.close()


def open_order(runtime) -> int:
    from faultline.ticketing import FindingIn

    now = runtime.clock.now()
    return runtime.intake.receive(
        FindingIn(
            site=SITE,
            asset="P-1",
            sensor="bearing_temp",
            fault_mode="overheating",
            severity="high",
            score=1.2,
            started_at=now,
            detector="static_limit",
            detector_version="1",
            rule="hot",
            config_version="1",
        )
    ).order.id


def test_upload_download_and_thumbnail(api_small, tmp_path):
    api = api_small
    order_id = open_order(api.runtime)
    photo = photo_bytes((1300, 1000))
    assert 1024**2 < len(photo) <= 1_500_000, len(photo)  # over the API's body limit, within the photo limit
    r = api.client.post(
        f"/api/v1/work-orders/{order_id}/attachments",
        params={"name": "bearing.jpg"},
        content=photo,
        headers={**api.as_("junior_engineer"), "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    [attachment] = r.json()["attachments"]
    assert (
        attachment["sha256"] == hashlib.sha256(photo).hexdigest() and attachment["uploaded_by"] == "junior_engineer-1"
    )
    assert (tmp_path / "attachments" / attachment["key"]).is_file()  # beside the state file by default
    got = api.client.get(f"/api/v1/work-orders/{order_id}/attachments/{attachment['id']}", headers=api.as_("admin"))
    assert got.status_code == 200 and got.content == photo and got.headers["content-type"] == "image/jpeg"
    assert 'filename="bearing.jpg"' in got.headers["content-disposition"]
    thumb = api.client.get(
        f"/api/v1/work-orders/{order_id}/attachments/{attachment['id']}/thumbnail", headers=api.as_("admin")
    )
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff" and len(thumb.content) < len(photo)


def test_limits_answer_413_and_415_and_leave_nothing(api_small, tmp_path):
    api = api_small
    order_id = open_order(api.runtime)
    url = f"/api/v1/work-orders/{order_id}/attachments"
    too_big = api.client.post(
        url, params={"name": "huge.jpg"}, content=b"\xff\xd8\xff" + bytes(1_600_000), headers=api.as_("admin")
    )
    assert too_big.status_code == 413
    assert "over the limit of 1500000 bytes (attachments.max_bytes)" in too_big.json()["detail"]
    doc = api.client.post(url, params={"name": "log.txt"}, content=b"a" * 20_000, headers=api.as_("admin"))
    assert doc.status_code == 413 and "document of more than 10000 bytes" in doc.json()["detail"]
    exe = api.client.post(url, params={"name": "x.pdf"}, content=b"MZ" + bytes(100), headers=api.as_("admin"))
    assert exe.status_code == 415 and "not an accepted type" in exe.json()["detail"]
    missing = api.client.post(
        "/api/v1/work-orders/999/attachments", params={"name": "a.txt"}, content=b"hi", headers=api.as_("admin")
    )
    assert missing.status_code == 404
    assert api.client.get(f"/api/v1/work-orders/{order_id}", headers=api.as_("admin")).json()["attachments"] == []
    left = [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
    assert left == [], left
    # the other routes keep the API's own limit
    big_action = api.client.post(
        f"/api/v1/work-orders/{order_id}/comment", json={"text": "x" * (1024**2 + 10)}, headers=api.as_("admin")
    )
    assert big_action.status_code == 413 and "service.max_request_bytes" in big_action.json()["detail"]
