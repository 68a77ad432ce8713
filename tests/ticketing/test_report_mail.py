"""The close e-mail carries the service report as a PDF, through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
from io import BytesIO

from tests.ticketing.conftest import finding
from tests.ticketing.test_dispatcher import Service, configured, smtp, tls_files  # noqa: F401 - fixtures
from faultline.ticketing.adapters import Dispatcher
from faultline.ticketing.config import TicketingConfig
from faultline.ticketing.lifecycle import SYSTEM
from faultline.ticketing.report import report_pdf


def test_the_close_mail_carries_the_service_report(tmp_path, smtp):  # noqa: F811 - the fixture
    from pypdf import PdfReader

    controller, inbox = smtp
    base = configured("http://127.0.0.1:9/unused", controller.port).model_dump()
    config = TicketingConfig.model_validate(
        {**base, "webhooks": [], "mail": [{"events": ["closed", "resolved"], "to": ["assignee"]}]}
    )
    service = Service(tmp_path, config)
    made = []

    def report(order):
        made.append(order.number)
        return f"{order.number}-service-report.pdf", report_pdf(order)

    dispatcher = Dispatcher(service.store, config, service.clock, report=report)
    try:
        order = service.intake.receive(finding(asset="pump-1", severity="high")).order
        dispatcher.begin()
        for step, args in (
            ("acknowledge", {}),
            ("start", {}),
            ("resolve", {"outcome": "fault_confirmed"}),
            ("close", {}),
        ):
            service.desk.act(order.id, SYSTEM, step, **args)
        queued, delivered = dispatcher.run_once()
        assert (queued, delivered) == (2, 2)  # resolved and closed, to the assignee
        assert made == [order.number]  # only the close carries the report
        resolved, closed = (
            email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for _, m, _ in inbox.messages
        )
        assert "resolved" in resolved["Subject"] and not list(resolved.iter_attachments())
        assert "closed" in closed["Subject"]
        [attached] = list(closed.iter_attachments())
        assert attached.get_content_type() == "application/pdf"
        assert attached.get_filename() == f"{order.number}-service-report.pdf"
        text = PdfReader(BytesIO(attached.get_content())).pages[0].extract_text()
        assert f"Service report {order.number}" in text and "Customer sign-off" in text
    finally:
        dispatcher.close()
        service.close()
