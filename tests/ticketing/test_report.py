"""The service report: every section in HTML and PDF, from an order taken through a whole job."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest

from tests.ticketing.conftest import T0
from tests.ticketing.test_attachments import jpeg
from tests.ticketing.test_lifecycle import ANNA, corrective
from faultline.ticketing.lifecycle import Lifecycle, config_deadlines
from faultline.ticketing.models import Attachment, Evidence
from faultline.ticketing.report import ReportNotReady, report_html, report_pdf, sla_outcome


@pytest.fixture
def done(clock, config):
    """A corrective order: evidence, acknowledged, a hold for a bearing, a photo, resolved."""
    life = Lifecycle(clock, config_deadlines(config), config.permissions)
    order = corrective(life, config)
    order.add_evidence(
        Evidence(
            sensor="vibration_rms",
            severity="high",
            score=7.4,
            started_at=T0,
            detector="iso20816",
            detector_version="1.2.0",
            rule="zone-c",
            config_version="cfg-7",
            readings={"min": 6.1, "max": 7.9, "mean": 7.3, "n": 60},
            received_at=T0,
        )
    )
    clock.advance(timedelta(minutes=20))
    order = life.start(life.acknowledge(order, ANNA), ANNA)
    order = life.add_part(order, ANNA, "SKF-6205-2RS", 2, "deep groove ball bearing")
    order = life.hold(order, ANNA, "awaiting_parts")
    clock.advance(timedelta(hours=3))
    order = life.resume(order, ANNA)
    order = life.use_part(order, ANNA, "SKF-6205-2RS")
    order = life.comment(order, ANNA, "bearing replaced, alignment checked — Grüße")
    order.attachments.append(
        Attachment(
            id="a1",
            name="new-bearing.jpg",
            kind="photo",
            content_type="image/jpeg",
            size=1000,
            sha256="ab" * 32,
            key="k",
            thumbnail_key="t",
            uploaded_by="anna",
            at=clock.now(),
        )
    )
    clock.advance(timedelta(minutes=30))
    return life, life.resolve(order, ANNA, "fault_confirmed", "replaced the drive-end bearing")


THUMB = jpeg(320, 240, (10, 200, 10))


def test_html_report_has_every_section(done):
    _, order = done
    html = report_html(order, lambda a: THUMB)
    for text in (
        "Service report WO-000007",
        "imbalance",
        "pump-1",
        "vibration_rms",
        "iso20816 1.2.0 / zone-c",
        "max 7.9",
        "on hold: awaiting parts",
        "SKF-6205-2RS",
        "deep groove ball bearing",
        "used",
        "bearing replaced, alignment checked — Grüße",
        "fault confirmed",
        "replaced the drive-end bearing",
        "anna.schmidt",
        "Customer sign-off",
        "Signature",
        "data:image/jpeg;base64,",
        "new-bearing.jpg",
        "Response",
        "Resolution",
        "Time on hold",
        "3 h 00 min",
    ):
        assert text in html, text


def test_sla_outcome_says_met_or_missed(done, clock):
    _, order = done
    rows = dict(sla_outcome(order))
    assert rows["Response"].startswith("met") and rows["Resolution"].startswith("met")
    late = order.model_copy(update={"resolved_at": order.resolution_due + timedelta(minutes=90)})
    assert dict(sla_outcome(late))["Resolution"].startswith("missed by 1 h 30 min")


def test_pdf_report_reads_back_with_the_same_content(done):
    from pypdf import PdfReader

    _, order = done
    pdf = report_pdf(order, lambda a: THUMB)
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(BytesIO(pdf))
    text = " ".join(page.extract_text() for page in reader.pages)
    for words in (
        "Service report WO-000007",
        "SKF-6205-2RS",
        "Customer sign-off",
        "Grüße",
        "fault confirmed",
        "Time on hold",
        "anna.schmidt",
    ):
        assert words in text, words
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 1


def test_no_report_before_resolve(clock, config):
    life = Lifecycle(clock, config_deadlines(config), config.permissions)
    with pytest.raises(ReportNotReady, match="WO-000007 is open: the service report is made once it is resolved"):
        report_html(corrective(life, config))
