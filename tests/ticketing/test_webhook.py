"""The webhook adapter against a real local HTTP receiver: signature, idempotency, retries, dead letters."""

from __future__ import annotations

import hashlib
import hmac
import json
import random

import pytest

from tests.receivers import HttpReceiver
from tests.ticketing.conftest import T0
from faultline.vocabulary import Backoff, ManualClock
from faultline.ticketing.adapters import SIGNATURE_HEADER, WebhookAdapter
from faultline.ticketing.models import OrderEvent, WorkOrder
from faultline.ticketing.store import WorkOrderStore

SECRET = b"s3cret"


class ScriptedReceiver(HttpReceiver):
    """Answers with the given statuses in turn, then 200."""

    def __init__(self, statuses):
        super().__init__()
        self.statuses = list(statuses)

    def answer(self, delivery):
        return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def receiver_with():
    made = []

    def make(*statuses):
        made.append(ScriptedReceiver(statuses).up())
        return made[-1]

    yield make
    for r in made:
        r.down()


@pytest.fixture
def store(tmp_path):
    with WorkOrderStore(f"sqlite:///{tmp_path}/orders.db") as s:
        yield s


def event() -> OrderEvent:
    order = WorkOrder(
        id=42,
        site="north",
        asset="pump-1",
        fault_mode="imbalance",
        service_type="corrective",
        priority="P2",
        opened_at=T0,
    )
    return OrderEvent(id="WO-000042.7", action="acknowledge", actor="anna", at=T0, order=order, previous_status="open")


def adapter(url, store, sleeps, **options) -> WebhookAdapter:
    return WebhookAdapter(
        url,
        SECRET,
        store,
        sleep=sleeps.append,
        rng=random.Random(1),
        clock=ManualClock(T0),
        backoff=Backoff(base=1.0, cap=4.0),
        **options,
    )


def test_delivers_signed_json_with_idempotency_key(receiver_with, store):
    receiver = receiver_with(200)
    sleeps = []
    assert adapter(receiver.url, store, sleeps).on_event(event()) is True
    [(*_, headers, body)] = receiver.got
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    assert headers["Idempotency-Key"] == "WO-000042.7" and headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["action"] == "acknowledge" and payload["order"]["number"] == "WO-000042"
    assert payload["order"]["asset"] == "pump-1" and payload["previous_status"] == "open"
    assert sleeps == [] and store.dead_letters() == []


def test_retries_after_500_with_the_same_key_then_succeeds(receiver_with, store):
    receiver = receiver_with(500, 503, 200)
    sleeps = []
    assert adapter(receiver.url, store, sleeps).on_event(event()) is True
    assert len(receiver.got) == 3
    assert {d.headers["Idempotency-Key"] for d in receiver.got} == {"WO-000042.7"}
    assert len({d.body for d in receiver.got}) == 1  # the same body, so the same signature
    # capped, jittered exponential backoff: attempt n waits within [d/2, d], d = min(4, 1 * 2**(n-1))
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    assert store.dead_letters() == []


def test_dead_letter_after_the_retry_limit(receiver_with, store):
    receiver = receiver_with(*[500] * 10)
    sleeps = []
    assert adapter(receiver.url, store, sleeps, max_attempts=4).on_event(event()) is False
    assert len(receiver.got) == 4 and len(sleeps) == 3 and max(sleeps) <= 4.0
    [letter] = store.dead_letters("webhook")
    assert letter["event_id"] == "WO-000042.7" and letter["attempts"] == 4 and "HTTP 500" in letter["reason"]
    assert json.loads(letter["payload"])["id"] == "WO-000042.7"  # kept whole, to send again by hand


def test_a_refusing_receiver_is_not_retried(receiver_with, store):
    receiver = receiver_with(422)
    sleeps = []
    assert adapter(receiver.url, store, sleeps).on_event(event()) is False
    assert len(receiver.got) == 1 and sleeps == []
    assert "HTTP 422" in store.dead_letters()[0]["reason"]


def test_unreachable_receiver_is_retried_then_dead_lettered(store):
    from tests.servers import free_port

    sleeps = []
    assert adapter(f"http://127.0.0.1:{free_port()}/", store, sleeps, max_attempts=2).on_event(event()) is False
    assert len(sleeps) == 1 and "ConnectError" in store.dead_letters()[0]["reason"]


def test_relay_delivers_the_audit_log_once_in_order_and_resumes_after_a_failure(receiver_with, store):
    from tests.ticketing.conftest import finding
    from faultline.ticketing.adapters import EventRelay
    from faultline.ticketing.config import default_ticketing_config
    from faultline.ticketing.findings import FindingIntake

    intake = FindingIntake.from_config(default_ticketing_config(), store, ManualClock(T0))
    made = [intake.receive(finding(asset=a)).id for a in ("pump-1", "pump-2", "pump-1")]
    receiver = receiver_with()
    sleeps = []
    relay = EventRelay(store, adapter(receiver.url, store, sleeps), "webhook")
    assert relay.run_once() == 3
    assert [d.headers["Idempotency-Key"] for d in receiver.got] == made  # same ids as the live events
    assert relay.run_once() == 0 and len(receiver.got) == 3

    class Crashing:
        def __init__(self):
            self.seen = []

        def on_event(self, event):
            if len(self.seen) == 1:
                raise RuntimeError("process died here")
            self.seen.append(event.id)

    crashing = Crashing()
    assert EventRelay(store, crashing, "jira").run_once() == 1
    assert store.cursor("jira") == 1
    resumed = []
    EventRelay(store, type("Ok", (), {"on_event": lambda self, e: resumed.append(e.id)})(), "jira").run_once()
    assert resumed == made[1:]


def test_adapters_are_built_from_the_configuration_and_bad_settings_are_named(config, store):
    from pydantic import ValidationError

    from faultline.ticketing.adapters import email_adapter, webhook_adapters

    assert webhook_adapters(config, store) == [] and email_adapter(config) is None
    configured = config.model_validate(
        {
            **config.model_dump(),
            "webhooks": [{"url": "https://cmms.example/hooks", "secret": "0123456789abcdef", "max_attempts": 3}],
            "smtp": {"host": "mail.plant.example", "sender": "faultline@plant.example"},
        }
    )
    [hook] = webhook_adapters(configured, store)
    assert (hook.url, hook.max_attempts) == ("https://cmms.example/hooks", 3)
    assert email_adapter(configured).host == "mail.plant.example"
    with pytest.raises(ValidationError, match="secret must be at least 16 characters"):
        config.model_validate({**config.model_dump(), "webhooks": [{"url": "https://x.example", "secret": "short"}]})
