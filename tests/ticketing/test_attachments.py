"""Attachments: files in a folder, their description on the order, their SHA-256 in the audit log."""

from __future__ import annotations

import hashlib
import json
from io import BytesIO

import pytest

from tests.ticketing.conftest import finding
from faultline.ticketing import Actor, Lifecycle, ServiceDesk, config_deadlines
from faultline.ticketing.attachments import AttachmentRefused, Attachments, AttachmentSettings, FolderBlobs, sniff
from faultline.ticketing.findings import FindingIntake

ENGINEER = Actor("anna.schmidt", "mid_engineer")


def jpeg(width=1200, height=800, color=(200, 40, 40)) -> bytes:
    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def setup(tmp_path, clock, config):
    from faultline.ticketing.store import WorkOrderStore

    store = WorkOrderStore(f"sqlite:///{tmp_path}/orders.db")
    order = FindingIntake.from_config(config, store, clock).receive(finding()).order
    desk = ServiceDesk(store, Lifecycle(clock, config_deadlines(config), config.permissions))
    settings = AttachmentSettings(
        max_bytes={"photo": 2_000_000, "video": 3_000_000, "document": 50_000}, max_order_bytes=3_500_000
    )
    attachments = Attachments(desk, FolderBlobs(tmp_path / "files"), settings)
    yield attachments, store, order, tmp_path / "files"
    store.close()


def chunks(data: bytes, size: int = 65536):
    return (data[i : i + size] for i in range(0, len(data), size))


def test_a_photo_is_kept_in_the_folder_with_a_thumbnail_and_audited_by_its_hash(setup):
    attachments, store, order, folder = setup
    photo = jpeg()
    saved, attachment = attachments.add(order.id, ENGINEER, "../../bearing.jpg", chunks(photo))
    digest = hashlib.sha256(photo).hexdigest()
    assert (attachment.sha256, attachment.size, attachment.kind, attachment.name) == (
        digest,
        len(photo),
        "photo",
        "bearing.jpg",
    )
    assert (folder / attachment.key).read_bytes() == photo
    from PIL import Image

    with Image.open(folder / attachment.thumbnail_key) as thumb:
        assert max(thumb.size) == 320 and thumb.format == "JPEG"
    assert store.get(order.id).attachments == [attachment]
    entry = store.audit_entries()[-1]
    assert entry.action == "attach" and entry.actor == "anna.schmidt"
    assert digest in entry.change  # the audit entry holds what changed: the new attachment, by its hash
    change = json.loads(entry.change)
    assert [
        a["sha256"]
        for a in (change.get("append") or {}).get("attachments", []) or (change.get("set") or {}).get("attachments", [])
    ] == [digest]
    assert store.verify_audit() is None
    assert not any((folder / ".incoming").iterdir()), "a temporary file was left behind"


def test_a_document_on_a_comment(setup, clock):
    attachments, store, order, _ = setup
    attachments.desk.act(order.id, ENGINEER, "comment", text="report from the vibration survey")
    _, attachment = attachments.add(order.id, ENGINEER, "survey.pdf", [b"%PDF-1.4\n", b"x" * 1000], comment=1)
    assert attachment.comment == 1 and attachment.content_type == "application/pdf"
    with pytest.raises(AttachmentRefused, match="has comments 1..1, not 2"):
        attachments.add(order.id, ENGINEER, "notes.txt", [b"torque 45 Nm"], comment=2)


def test_limits_are_in_bytes_per_kind_and_per_order(setup):
    attachments, store, order, folder = setup
    with pytest.raises(AttachmentRefused, match="document of more than 50000 bytes") as refused:
        attachments.add(order.id, ENGINEER, "big.pdf", chunks(b"%PDF-1.4\n" + b"x" * 60_000, 4096))
    assert refused.value.status == 413
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(2_900_000)
    attachments.add(order.id, ENGINEER, "run-up.mp4", chunks(video))
    with pytest.raises(AttachmentRefused, match="over the 3500000 bytes an order may hold") as refused:
        attachments.add(order.id, ENGINEER, "second.mp4", chunks(b"\x00\x00\x00\x18ftypisom" + bytes(900_000)))
    assert refused.value.status == 413
    kept = sorted(p.name for p in (folder / "orders" / str(order.id)).iterdir())
    assert kept == [hashlib.sha256(video).hexdigest() + ".mp4"], "a refused file was kept"
    assert len(store.get(order.id).attachments) == 1


def test_type_comes_from_the_bytes_not_the_name(setup):
    attachments, _, order, _ = setup
    with pytest.raises(AttachmentRefused, match="not an accepted type .first bytes 4d 5a") as refused:
        attachments.add(order.id, ENGINEER, "photo.jpg", [b"MZ\x90\x00" + bytes(5000)])  # a Windows program
    assert refused.value.status == 415
    with pytest.raises(AttachmentRefused, match="not a readable image"):
        attachments.add(order.id, ENGINEER, "cut.jpg", [jpeg()[:300]])  # a JPEG cut short


def test_the_same_file_twice_is_refused(setup):
    attachments, _, order, _ = setup
    photo = jpeg(64, 64)
    attachments.add(order.id, ENGINEER, "a.jpg", [photo])
    with pytest.raises(AttachmentRefused, match="already has this file") as refused:
        attachments.add(order.id, ENGINEER, "b.jpg", [photo])
    assert refused.value.status == 409


@pytest.mark.parametrize(
    "head, expected",
    [
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x14ftypqt  ", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x01", "video/webm"),
        (b"bearing replaced, 45 Nm", "text/plain"),
        (b"\xff\xfe\x00\x00", None),
    ],
)
def test_sniff(head, expected):
    assert sniff(head) == expected


def test_limits_name_a_bad_kind():
    with pytest.raises(ValueError, match="unknown kind 'audio'"):
        AttachmentSettings(max_bytes={"audio": 10})
