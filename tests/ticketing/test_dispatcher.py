"""The notification dispatcher against a real HTTP receiver and a real SMTP server (aiosmtpd, STARTTLS
and login) on free ports: routing per event, site and priority; a receiver down for a while loses
nothing and, being idempotent, applies nothing twice; a receiver that keeps failing ends as ``dead``."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import random
import ssl
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.receivers import HttpReceiver
from tests.servers import free_port
from tests.ticketing.conftest import T0, finding
from faultline.ticketing import EscalationResponder, EscalationScheduler, FindingIntake, Lifecycle, ServiceDesk
from faultline.vocabulary import Backoff, ManualClock
from faultline.ticketing.adapters import Dispatcher
from faultline.ticketing.config import TicketingConfig, default_ticketing_config
from faultline.ticketing.lifecycle import SYSTEM, config_deadlines
from faultline.ticketing.store import WorkOrderStore

SECRET = "a-shared-secret-of-32-characters"


class IdempotentReceiver(HttpReceiver):
    """A CMMS-like webhook receiver: it checks the signature, applies each Idempotency-Key once, and
    keeps every request it got."""

    def __init__(self):
        super().__init__()
        self.applied: dict[str, dict] = {}

    def answer(self, delivery):
        expected = "sha256=" + hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, delivery.headers["X-Faultline-Signature"]):
            return 401
        self.applied.setdefault(delivery.headers["Idempotency-Key"], json.loads(delivery.body))
        return self.status


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((sorted(envelope.rcpt_tos), email.message_from_bytes(envelope.content), session))
        return "250 OK"


@pytest.fixture
def tls_files(tmp_path, monkeypatch):
    """A self-signed certificate for 127.0.0.1, trusted by the client through SSL_CERT_FILE."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return cert, key


@pytest.fixture
def smtp(tls_files):
    """aiosmtpd that requires STARTTLS and a login (faultline / mail-password)."""
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"faultline", b"mail-password"))

    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def receiver():
    r = IdempotentReceiver()
    yield r
    r.down()


@pytest.fixture
def start(tmp_path, receiver, smtp):
    """``start(status=200, up=True, **webhook)``: the receiver answering ``status`` (up unless told
    otherwise) and a `Service` routed to it and to the SMTP server, its webhook with ``webhook``'s
    settings; the services are closed after the test."""
    started = []

    def start(status: int = 200, up: bool = True, **webhook) -> Service:
        receiver.status = status
        if up:
            receiver.up()
        config = configured(receiver.url, smtp[0].port).model_dump(mode="json")
        config["webhooks"][0].update(webhook)
        started.append(Service(tmp_path, TicketingConfig.model_validate(config)))
        return started[-1]

    yield start
    for service in started:
        service.close()


def configured(receiver_url: str, smtp_port: int, **extra) -> TicketingConfig:
    base = default_ticketing_config().model_dump(mode="json")
    base.update(
        asset_criticality={"pump-1": "A", "fan-9": "C"},
        webhooks=[{"name": "cmms", "url": receiver_url, "secret": SECRET, "max_attempts": 20}],
        smtp={
            "host": "127.0.0.1",
            "port": smtp_port,
            "sender": "faultline@plant.example",
            "starttls": True,
            "username": "faultline",
            "password": "mail-password",
        },
        mail=[
            {"events": ["opened", "reopened"], "priorities": ["P1"], "to": ["assignee", "managers"]},
            {"events": ["escalation", "response_breached", "resolution_breached"], "to": ["escalation"]},
            {"events": ["resolved"], "sites": ["south"], "to": ["managers"]},
        ],
        **extra,
    )
    return TicketingConfig.model_validate(base)


class Service:
    """Intake, desk, escalation and dispatcher over one store, on a manual clock."""

    def __init__(self, tmp_path, config: TicketingConfig):
        self.clock = ManualClock(T0)
        self.config = config
        self.store = WorkOrderStore(f"sqlite:///{tmp_path}/orders.db")
        self.desk = ServiceDesk(self.store, Lifecycle(self.clock, config_deadlines(config), config.permissions))
        self.intake = FindingIntake.from_config(config, self.store, self.clock)
        self.scheduler = EscalationScheduler(self.clock, EscalationResponder(self.desk, config))
        self.outcomes: list[tuple[str, str]] = []
        self.dispatcher = Dispatcher(
            self.store,
            config,
            self.clock,
            backoff=Backoff(10.0, 120.0),
            rng=random.Random(3),
            on_outcome=lambda c, s: self.outcomes.append((c, s)),
        )

    def close(self):
        self.dispatcher.close()
        self.store.close()


def test_events_reach_the_receiver_and_the_mailboxes_they_are_routed_to(start, receiver, smtp):
    _, inbox = smtp
    service = start()
    opened = service.intake.receive(finding(asset="pump-1", severity="high"))  # criticality A: P1
    order = opened.order
    assert order.priority == "P1" and order.assignee == "anna.schmidt"
    quiet = service.intake.receive(finding(asset="fan-9", severity="medium"))  # C: P4, no mail rule
    service.desk.act(quiet.order.id, SYSTEM, "acknowledge")  # not a default event
    assert service.dispatcher.run_once() == (3, 3)  # a webhook and a mail for pump-1, a webhook for fan-9

    kinds = [(json.loads(body)["event"], json.loads(body)["order"]["asset"]) for *_, body in receiver.got]
    assert kinds == [("opened", "pump-1"), ("opened", "fan-9")]
    headers = receiver.got[0].headers
    assert headers["Idempotency-Key"] == opened.id and headers["X-Faultline-Event"] == "opened"
    [(to, message, session)] = inbox.messages
    assert to == ["anna.schmidt@plant.example", "marta.nowak@plant.example"]
    assert session.authenticated and "opened" in message["Subject"] and order.number in message["Subject"]

    # the response target (15 min, P1) passes: the chain's steps and the breach are notices too
    service.scheduler.track(
        order.id, service.store.get(order.id), service.config.sla_clock(order.site, with_breach(service.config, order))
    )
    service.clock.advance(timedelta(minutes=16))
    fired = [action.key for _, action in service.scheduler.tick()]
    assert fired == ["response@0.75:notify_assignee", "response@1:reassign", "response@1:breach"]
    service.dispatcher.run_once()
    events = [json.loads(body)["event"] for *_, body in receiver.got[2:]]
    assert events == ["escalation", "escalation", "response_breached"]
    subjects = [m["Subject"] for _, m, _ in inbox.messages[1:]]
    assert len(subjects) == 3 and "BREACHED" in subjects[-1]
    assert all(row["status"] == "delivered" for row in service.store.notifications())


def with_breach(config: TicketingConfig, order):
    """The order's policy with a breach notice at each target (what the service adds)."""
    from faultline.ticketing.sla import EscalationStep

    policy = config.policy_for(order.priority, order.service_type)
    steps = list(policy.escalation or ())
    steps += [
        EscalationStep(at=1.0, of=target, action="breach")
        for target in ("response", "resolution")
        if policy.target(target) is not None
    ]
    return policy.model_copy(update={"escalation": tuple(steps)})


def test_a_receiver_down_for_a_while_gets_every_event_once_in_order(start, receiver, smtp):
    _, inbox = smtp
    service = start(up=False)
    order = service.intake.receive(finding(asset="pump-1", severity="high")).order
    service.desk.act(order.id, SYSTEM, "set_priority", priority="P1")  # same priority: still an event
    for step in ("acknowledge", "start"):
        service.desk.act(order.id, SYSTEM, step)
    service.desk.act(order.id, SYSTEM, "resolve", outcome="fault_confirmed")
    service.desk.act(order.id, SYSTEM, "reopen", reason="vibration back")
    expected = [
        e.seq for e in service.store.audit_entries() if e.action in ("open", "set_priority", "resolve", "reopen")
    ]

    # the receiver is down: every due attempt fails and is rescheduled, the mails go out regardless
    for _ in range(6):
        service.dispatcher.run_once()
        service.clock.advance(timedelta(minutes=3))
    assert receiver.got == []
    pending = service.store.notifications(status="pending")
    assert len(pending) == 4 and all(row["channel"] == "webhook:cmms" for row in pending)
    assert max(row["attempts"] for row in pending) >= 5 and not service.store.notifications(status="dead")
    assert len(inbox.messages) == 2  # opened and reopened of a P1 order

    receiver.up()
    for _ in range(10):
        service.clock.advance(timedelta(minutes=3))
        service.dispatcher.run_once()
    seqs = [int(json.loads(body)["id"].rsplit(".", 1)[1]) for *_, body in receiver.got]
    assert seqs == expected  # all of them, once each, in the order of the log

    # a crash after the receiver's answer but before the outcome was recorded: sent again,
    # with the same key, and the idempotent receiver does not apply it twice
    row = service.store.notifications(status="delivered")[-1]
    service.store.record_attempt(row["id"], status="pending", attempts=row["attempts"], at=service.clock.now())
    service.dispatcher.run_once()
    assert len(receiver.got) == len(expected) + 1 and len(receiver.applied) == len(expected)
    assert not service.store.notifications(status="pending")


def test_a_receiver_that_keeps_failing_ends_dead_and_others_go_on(start, receiver, smtp):
    _, inbox = smtp
    service = start(status=503, max_attempts=3)
    service.intake.receive(finding(asset="pump-1", severity="high"))
    for _ in range(5):
        service.dispatcher.run_once()
        service.clock.advance(timedelta(minutes=5))
    [dead] = service.store.notifications(status="dead")
    assert dead["attempts"] == 3 and dead["last_error"].startswith("HTTP 503") and len(receiver.got) == 3
    assert ("webhook:cmms", "dead") in service.outcomes and service.store.notification_counts() == {
        "dead": 1,
        "delivered": 1,
    }
    assert len(inbox.messages) == 1


def test_two_workers_on_one_store_send_each_delivery_once(start, receiver):
    service = start()
    other = Dispatcher(service.store, service.config, service.clock, rng=random.Random(4))
    try:
        for asset in ("pump-1", "pump-2", "pump-3", "pump-4"):
            service.intake.receive(finding(asset=asset, severity="high"))
        service.dispatcher.queue()
        threads = [threading.Thread(target=d.deliver) for d in (service.dispatcher, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        other.deliver()
        service.dispatcher.deliver()
        assert len(receiver.got) == 4 == len(receiver.applied)
        assert all(row["status"] == "delivered" and row["attempts"] == 1 for row in service.store.notifications())
    finally:
        other.close()


def test_a_dead_delivery_is_listed_and_sent_again_after_the_fix(tmp_path, start, receiver):
    from typer.testing import CliRunner

    from faultline.service.cli import app

    service = start(status=500, max_attempts=1)
    service.intake.receive(finding(asset="pump-1", severity="high"))
    service.dispatcher.run_once()
    url = f"sqlite:///{tmp_path}/orders.db"
    listed = CliRunner().invoke(app, ["tickets", "notifications", "--status", "dead", "--store", url])
    assert listed.exit_code == 0 and "WO-000001.1  opened" in listed.output and "HTTP 500" in listed.output
    receiver.status = 200
    again = CliRunner().invoke(app, ["tickets", "notifications", "--retry", "--status", "pending", "--store", url])
    assert again.exit_code == 0 and "pending" in again.output
    service.clock.set(datetime.now(UTC))  # the command marks it due at the wall clock's now
    service.dispatcher.run_once()
    assert service.store.notification_counts() == {"delivered": 2} and len(receiver.applied) == 1


def test_a_dispatcher_new_to_a_store_announces_only_what_follows(start, receiver):
    service = start()
    service.intake.receive(finding(asset="pump-1", severity="high"))  # before any receiver was configured
    assert service.dispatcher.begin() == 1 and service.dispatcher.begin() == 1
    service.intake.receive(finding(asset="pump-2", severity="high"))
    service.dispatcher.run_once()
    assert [json.loads(body)["order"]["asset"] for *_, body in receiver.got] == ["pump-2"]


def test_a_command_that_reads_never_creates_a_store(tmp_path):
    from typer.testing import CliRunner

    from faultline.service.cli import app

    missing = tmp_path / "not-here" / "orders.sqlite"
    for command in (["list"], ["notifications"], ["verify-audit"], ["show", "WO-000001"], ["kpis"]):
        result = CliRunner().invoke(app, ["tickets", *command, "--store", f"sqlite:///{missing}"])
        assert result.exit_code == 1 and f"no work-order store at {missing}" in result.output, command
        assert not missing.parent.exists(), command
    assert not missing.parent.exists()
