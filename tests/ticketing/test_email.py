"""Escalation e-mails through a real local SMTP server (aiosmtpd on a free port)."""

from __future__ import annotations

import email

import pytest
from aiosmtpd.controller import Controller

from tests.servers import free_port
from tests.ticketing.conftest import T0
from ticketing.adapters import EmailAdapter, NotificationFailed
from ticketing.config import EngineerSettings
from ticketing.models import Evidence, WorkOrder

ENGINEERS = [
    EngineerSettings(name="anna", role="senior_engineer", sites=["plant-a"], email="anna@plant.example"),
    EngineerSettings(name="lea", role="junior_engineer", sites=["plant-a"], email="lea@plant.example"),
    EngineerSettings(name="marta", role="manager", sites=["plant-a"], email="marta@plant.example"),
    EngineerSettings(name="sam", role="senior_engineer", sites=["plant-b"], email="sam@plant.example"),
]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def order() -> WorkOrder:
    return WorkOrder(id=5, site="plant-a", asset="pump-1", fault_mode="bearing_outer_race", service_type="corrective",
                     priority="P2", assignee="lea", opened_at=T0,
                     evidence=[Evidence(sensor="accel", severity="high", score=9.1, started_at=T0, detector="envelope",
                                        detector_version="2.0", rule="bpfo", config_version="c1", received_at=T0)])


def test_reminder_goes_to_the_assignee_with_the_evidence(smtp):
    controller, inbox = smtp
    mailer = EmailAdapter(controller.hostname, controller.port, "faultline@plant.example", ENGINEERS)
    assert mailer.notify_escalation(order(), "notify_assignee", fraction=0.75) == ["lea@plant.example"]
    [(to, message)] = inbox.messages
    assert to == ["lea@plant.example"] and message["From"] == "faultline@plant.example"
    assert "WO-000005" in message["Subject"] and "75%" in message["Subject"]
    body = message.get_payload()
    assert "bearing_outer_race" in body and "envelope 2.0, rule bpfo" in body


def test_reassignment_and_manager_notices_reach_the_site_roles(smtp):
    controller, inbox = smtp
    mailer = EmailAdapter(controller.hostname, controller.port, "faultline@plant.example", ENGINEERS)
    assert mailer.notify_escalation(order(), "reassign", role="senior_engineer") == ["anna@plant.example"]
    assert mailer.notify_escalation(order(), "notify_manager") == ["marta@plant.example"]
    assert [to for to, _ in inbox.messages] == [["anna@plant.example"], ["marta@plant.example"]]


def test_failures_raise_so_the_scheduler_retries():
    mailer = EmailAdapter("127.0.0.1", free_port(), "faultline@plant.example", ENGINEERS, timeout=2)
    with pytest.raises(NotificationFailed, match="lea@plant.example"):
        mailer.notify_escalation(order(), "notify_assignee")
    nobody = EmailAdapter("127.0.0.1", free_port(), "f@x", ENGINEERS[3:])
    with pytest.raises(NotificationFailed, match="nobody"):
        nobody.notify_escalation(order(), "notify_manager")
