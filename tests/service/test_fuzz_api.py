"""Schemathesis over the OpenAPI document, against the app in-process, with every check.

Any 5xx, any response that does not match its documented schema or status codes, fails the test.
The number of examples per operation is bounded so the whole run stays well under a minute;
``FAULTLINE_FUZZ_EXAMPLES`` raises it for a longer hunt (the issue's note gives the figures).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.failures import FailureGroup

from tests.service.conftest import T0, batch, service_settings

EXAMPLES = int(os.environ.get("FAULTLINE_FUZZ_EXAMPLES", "8"))
#: Requests sent, per status code (printed at the end, to report what the fuzzing did).
SENT: Counter = Counter()


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory):
    from faultline.service.app import create_app
    from faultline.service.runtime import Runtime

    tmp = tmp_path_factory.mktemp("fuzz")
    settings_ = service_settings(tmp)
    runtime = Runtime(settings_)
    from faultline.ingest.writers import SqliteStore

    readings = batch("P-1", "bearing_temp", T0, [70, 95, 96, 97])
    store = SqliteStore(settings_.store.path)
    store.write(readings)
    store.close()
    runtime.detection.handle(readings)  # one finding, one work order: ids 1 exist, others do not
    yield create_app(settings_, runtime), lambda: runtime.tokens.create("admin", "fuzz", runtime.clock.now())[1]
    runtime.close()
    print(f"\nschemathesis: {sum(SENT.values())} requests; by status: {dict(sorted(SENT.items()))}")


#: Operations whose rules the OpenAPI document cannot state (one field against another, a step's own
#: arguments, a configuration validated by the detectors package): a schema-valid request may get a 422
#: naming the rule, so the "schema-valid data is accepted" check is left out for these alone.
CROSS_FIELD_RULES = {
    "GET /api/v1/readings": "end must be after start",
    "GET /api/v1/kpis": "until must be after since",
    "POST /api/v1/detectors/proposals/{number}/backtest": "end must be after start",
    "POST /api/v1/work-orders/{order_id}/{action}": "each step takes its own arguments",
    "POST /api/v1/detectors/proposals": "the detectors section is validated by its own models",
    "PUT /api/v1/catalogue": "the catalogue is validated by ticketing's own models",
    "POST /api/v1/tokens": "expires_in_days or expires_at, not both; an expiry in the future",
    "POST /api/v1/tokens/{token_id}/rotate": "expires_in_days or expires_at, not both; an expiry in the future",
    "POST /api/v1/work-orders/{order_id}/attachments": "the file's kind is read from its first bytes (415), its size counted (413)",
}


def _fuzz(operation, mode, new_token, failures: list) -> None:
    excluded = [positive_data_acceptance] if operation.label in CROSS_FIELD_RULES else None

    # a fresh admin token per operation (the fuzzing itself rotates, demotes and revokes tokens), given to
    # the strategy so that schemathesis knows every request carries it
    auth = {"Authorization": f"Bearer {new_token()}"}

    @given(case=operation.as_strategy(generation_mode=mode, headers=auth))
    @settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
    )
    def run(case):
        response = case.call()
        SENT[response.status_code] += 1
        case.validate_response(response, excluded_checks=excluded)

    try:
        run()
    except Unsatisfiable:  # nothing to vary (no parameters): the positive run covers it
        pass
    except FailureGroup as group:  # every operation is tried, then all failures are reported together
        failures.append(
            f"{operation.label} ({mode.value}): "
            + "; ".join(str(e).splitlines()[0] + " -- " + " ".join(str(e).split())[:400] for e in group.exceptions)
        )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_breaks_the_api(fuzz_api, mode):
    app, new_token = fuzz_api
    # the event stream never ends: it has its own tests
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/api/v1/events")
    failures: list[str] = []
    for result in schema.get_all_operations():
        _fuzz(result.ok(), mode, new_token, failures)
    assert not failures, "\n\n".join(failures)


# What the fuzzing found, each pinned as a plain test (the 2,001-request run found the first).
HUGE = 2**63


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", f"/api/v1/work-orders/{HUGE}"),
        ("get", f"/api/v1/work-orders/{HUGE}/audit"),
        ("post", f"/api/v1/work-orders/{HUGE}/acknowledge"),
        ("delete", f"/api/v1/tokens/{HUGE}"),
        ("get", f"/api/v1/detectors/versions/{HUGE}"),
        ("post", f"/api/v1/notifications/{HUGE}/retry"),
        ("get", f"/api/v1/notifications?order_id={HUGE}"),
        ("post", f"/api/v1/dead-letters/{HUGE}/replay"),
        ("get", f"/api/v1/dead-letters?offset={HUGE}"),
    ],
)
def test_ids_past_64_bits_are_a_422_naming_the_bound(api, method, path):
    r = api.client.request(method, path, headers=api.as_("admin"))
    assert r.status_code == 422, r.text
    assert "9223372036854775807" in r.text


def test_times_outside_what_readings_carry_are_422_not_an_overflow(api):
    r = api.client.post(
        "/api/v1/detectors/proposals/1/backtest", json={"end": "2263-01-01T00:00:00Z"}, headers=api.as_("admin")
    )
    assert r.status_code == 422 and "2262-04-11" in r.text
    r = api.client.get("/api/v1/readings?asset=P-1&sensor=x&start=0001-01-01T00:00:00Z", headers=api.as_("admin"))
    assert r.status_code == 422 and "1678-01-01" in r.text
    r = api.client.get("/api/v1/kpis?since=123", headers=api.as_("admin"))
    assert r.status_code == 422 and "not a time" in r.text


def test_unknown_or_repeated_query_parameters_are_refused(api):
    r = api.client.get("/api/v1/work-orders?priorty=P1", headers=api.as_("admin"))
    assert r.status_code == 422 and "'priorty'" in r.text and "priority" in r.json()["detail"]
    r = api.client.get("/api/v1/work-orders?site=a&site=b", headers=api.as_("admin"))
    assert r.status_code == 422 and "2 times" in r.text


def test_error_bodies_and_statuses_are_documented(api):
    doc = api.client.get("/openapi.json").json()
    act = doc["paths"]["/api/v1/work-orders/{order_id}/{action}"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "422"} <= set(act)
    for status in ("401", "403", "404", "409", "422"):
        assert act[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # a 422 raised by a route (a string) and one from request validation (a list) both fit ErrorOut
    from faultline.service.app.errors import ErrorOut

    for r in (
        api.client.get("/api/v1/work-orders?priority=P9", headers=api.as_("admin")),
        api.client.post("/api/v1/work-orders/1/hold", json={}, headers=api.as_("admin")),
    ):
        assert r.status_code in (404, 422)
        ErrorOut.model_validate(r.json())
