"""Escalation e-mails through a real local SMTP server (aiosmtpd on a free port)."""

from __future__ import annotations

import email

import pytest
from aiosmtpd.controller import Controller

from tests.servers import free_port
from tests.ticketing.conftest import T0
from faultline.ticketing.adapters import EmailAdapter, NotificationFailed
from faultline.ticketing.config import EngineerSettings
from faultline.ticketing.models import Evidence, WorkOrder

ENGINEERS = [
    EngineerSettings(name="anna", role="senior_engineer", sites=["north"], email="anna@plant.example"),
    EngineerSettings(name="lea", role="junior_engineer", sites=["north"], email="lea@plant.example"),
    EngineerSettings(name="marta", role="manager", sites=["north"], email="marta@plant.example"),
    EngineerSettings(name="sam", role="senior_engineer", sites=["south"], email="sam@plant.example"),
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
    return WorkOrder(
        id=5,
        site="north",
        asset="pump-1",
        fault_mode="bearing_outer_race",
        service_type="corrective",
        priority="P2",
        assignee="lea",
        opened_at=T0,
        evidence=[
            Evidence(
                sensor="accel",
                severity="high",
                score=9.1,
                started_at=T0,
                detector="envelope",
                detector_version="2.0",
                rule="bpfo",
                config_version="c1",
                received_at=T0,
            )
        ],
    )


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


def test_escalation_chain_on_a_stored_order_reminds_reassigns_and_survives_restart(smtp, tmp_path, clock, config):
    from datetime import timedelta

    from tests.ticketing.conftest import finding
    from faultline.ticketing.escalation import EscalationScheduler
    from faultline.ticketing.findings import FindingIntake
    from faultline.ticketing.lifecycle import Lifecycle, ServiceDesk, config_deadlines
    from faultline.ticketing.responders import EscalationResponder, fired_steps

    from faultline.ticketing.store import WorkOrderStore

    store = WorkOrderStore(f"sqlite:///{tmp_path}/orders.db")
    controller, inbox = smtp
    addresses = {"anna.schmidt": "anna@p.example", "jonas.weber": "jonas@p.example", "marta.nowak": "marta@p.example"}
    engineers = [e.model_copy(update={"email": addresses.get(e.name)}) for e in config.engineers]
    config = config.model_copy(update={"engineers": engineers})
    busy = FindingIntake.from_config(config, store, clock)
    busy.receive(finding(asset="pump-7"))  # anna gets this one, so jonas is least loaded next
    order = busy.receive(finding(asset="pump-1", severity="high")).order  # P1: respond within 15 min, 24x7
    assert order.assignee == "jonas.weber"
    desk = ServiceDesk(store, Lifecycle(clock, config_deadlines(config), config.permissions))
    responder = EscalationResponder(
        desk, config, EmailAdapter(controller.hostname, controller.port, "faultline@p.example", engineers)
    )
    scheduler = EscalationScheduler(clock, responder)
    assert responder.watch(scheduler) == 2

    clock.advance(timedelta(minutes=12))  # 80 % of the response target: remind the assignee
    assert [a.key for _, a in scheduler.tick() if _ == order.id] == ["response@0.75:notify_assignee"]
    assert inbox.messages[-1][0] == ["jonas@p.example"]
    clock.advance(timedelta(minutes=3))  # 100 %: hand it to a senior engineer
    scheduler.tick()
    stored = store.get(order.id)
    assert stored.assignee == "anna.schmidt" and inbox.messages[-1][0] == ["anna@p.example"]
    assert {"response@0.75:notify_assignee", "response@1:reassign"} <= fired_steps(stored)
    assert "assign" in [e.action for e in store.audit_entries()]

    restarted = EscalationScheduler(clock, responder)  # a new process reads what already fired
    responder.watch(restarted)
    sent = len(inbox.messages)
    assert [a for i, a in restarted.tick() if i == order.id] == [] and len(inbox.messages) == sent


def test_tracker_stops_response_steps_once_the_order_is_acknowledged(tmp_path, clock, config):
    from datetime import timedelta

    from tests.ticketing.conftest import finding
    from faultline.ticketing.escalation import EscalationScheduler
    from faultline.ticketing.findings import FindingIntake
    from faultline.ticketing.lifecycle import Actor, Lifecycle, Notifier, ServiceDesk, config_deadlines
    from faultline.ticketing.responders import EscalationResponder, EscalationTracker
    from faultline.ticketing.store import WorkOrderStore

    with WorkOrderStore(f"sqlite:///{tmp_path}/orders.db") as store:
        fired, stale_fired = [], []
        scheduler = EscalationScheduler(clock, lambda order_id, action: fired.append(action.key))
        stale = EscalationScheduler(clock, lambda order_id, action: stale_fired.append(action.key))
        order = (
            FindingIntake.from_config(config, store, clock).receive(finding(asset="pump-1", severity="high")).order
        )  # P1: 15 min response
        notify = Notifier([EscalationTracker(scheduler, config)])
        desk = ServiceDesk(store, Lifecycle(clock, config_deadlines(config), config.permissions), notify)
        assert EscalationResponder(desk, config).watch(scheduler) == 1  # as on start-up
        EscalationResponder(desk, config).watch(stale)  # never told of what follows
        clock.advance(timedelta(minutes=5))
        desk.act(order.id, Actor("jonas.weber", "mid_engineer"), "acknowledge")
        clock.advance(timedelta(minutes=20))  # past the response deadline, but it was met
        scheduler.tick(), stale.tick()
        assert not [k for k in fired if k.startswith("response")]
        assert "response@1:reassign" in stale_fired  # what a stale copy would have done
        desk.act(order.id, Actor("jonas.weber", "mid_engineer"), "start")
        desk.act(order.id, Actor("jonas.weber", "mid_engineer"), "resolve", outcome="fault_confirmed")
        clock.advance(timedelta(hours=5))  # past the resolution deadline, but it was met too
        scheduler.tick()
        assert fired == [] and scheduler.next_due() is None
