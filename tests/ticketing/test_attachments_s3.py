"""Attachments in an S3-compatible object store: moto's standalone server on a free local port,
reached over HTTP by boto3 exactly as a MinIO or AWS endpoint would be."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from tests.ticketing.conftest import finding
from tests.ticketing.test_attachments import ENGINEER, chunks, jpeg
from faultline.ticketing import Lifecycle, ServiceDesk, config_deadlines
from faultline.ticketing.attachments import AttachmentRefused, Attachments, AttachmentSettings
from faultline.ticketing.findings import FindingIntake
from faultline.ticketing.s3 import S3Blobs, S3Settings

pytestmark = pytest.mark.servers


@pytest.fixture
def bucket(moto_s3):
    settings = S3Settings(
        bucket=f"faultline-{uuid.uuid4().hex[:8]}",
        endpoint_url=moto_s3.url,
        region="us-east-1",
        access_key_id="test",
        secret_access_key="test",
        prefix="plant-a/",
    )
    import boto3

    client = boto3.client(
        "s3", endpoint_url=moto_s3.url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    client.create_bucket(Bucket=settings.bucket)
    return settings, client


def test_files_go_to_the_bucket_and_come_back(tmp_path, clock, config, bucket):
    from faultline.ticketing.store import WorkOrderStore

    s3, client = bucket
    store = WorkOrderStore(f"sqlite:///{tmp_path}/orders.db")
    try:
        order = FindingIntake.from_config(config, store, clock).receive(finding()).order
        desk = ServiceDesk(store, Lifecycle(clock, config_deadlines(config), config.permissions))
        settings = AttachmentSettings(max_bytes={"photo": 2_000_000, "document": 10_000}, s3=s3)
        attachments = Attachments(desk, S3Blobs.from_settings(s3, tmp_path / "incoming"), settings)
        photo = jpeg(1000, 700)
        _, attachment = attachments.add(order.id, ENGINEER, "pump.jpg", chunks(photo, 50_000))
        stored = client.get_object(Bucket=s3.bucket, Key=f"plant-a/{attachment.key}")["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == attachment.sha256 == hashlib.sha256(photo).hexdigest()
        assert b"".join(attachments.blobs.chunks(attachment.key)) == photo
        assert attachments.thumbnail_of(attachment)[:3] == b"\xff\xd8\xff"
        assert list((tmp_path / "incoming").iterdir()) == []  # nothing left locally
        with pytest.raises(AttachmentRefused, match="already has this file"):
            attachments.add(order.id, ENGINEER, "again.jpg", [photo])
        keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=s3.bucket)["Contents"])
        assert keys == sorted(f"plant-a/{k}" for k in (attachment.key, attachment.thumbnail_key))
        with pytest.raises(AttachmentRefused, match="document of more than 10000 bytes"):
            attachments.add(order.id, ENGINEER, "big.txt", [b"x" * 20_000])
        assert len(client.list_objects_v2(Bucket=s3.bucket)["Contents"]) == 2
    finally:
        store.close()


def test_the_service_keeps_attachments_in_the_configured_bucket(tmp_path, bucket):
    from fastapi.testclient import TestClient

    from faultline.service.app import create_app
    from faultline.service.runtime import Runtime
    from tests.service.conftest import service_settings
    from tests.service.test_attachments_api import open_order

    s3, client = bucket
    settings = service_settings(tmp_path, attachments={"s3": s3.model_dump()})
    runtime = Runtime(settings)
    try:
        token = runtime.tokens.create("admin", "ada", runtime.clock.now())[1]
        order_id = open_order(runtime)
        with TestClient(create_app(settings, runtime)) as api:
            auth = {"Authorization": f"Bearer {token}"}
            r = api.post(
                f"/api/v1/work-orders/{order_id}/attachments",
                params={"name": "notes.txt"},
                content=b"bearing 6205 replaced",
                headers=auth,
            )
            assert r.status_code == 201, r.text
            [a] = r.json()["attachments"]
            assert (
                client.get_object(Bucket=s3.bucket, Key=s3.prefix + a["key"])["Body"].read() == b"bearing 6205 replaced"
            )
            got = api.get(f"/api/v1/work-orders/{order_id}/attachments/{a['id']}", headers=auth)
            assert got.content == b"bearing 6205 replaced"
    finally:
        runtime.close()
