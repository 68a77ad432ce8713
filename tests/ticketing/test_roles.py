"""The permission matrix: defaults, specific rules, the stricter-of-both rule, and clear refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from faultline.ticketing.roles import DEFAULT_PERMISSIONS, Action, PermissionDenied, PermissionMatrix, Role, check

SENIOR_ONLY = {Role.SENIOR_ENGINEER, Role.MANAGER, Role.ADMIN}


@pytest.mark.parametrize(
    ("priority", "service_type"),
    [("P1", "emergency_repair"), ("P2", "corrective"), ("P3", "corrective"), ("P1", "corrective")],
)
@pytest.mark.parametrize("role", list(Role))
def test_only_senior_engineer_manager_or_admin_close_emergency_and_corrective_orders(role, priority, service_type):
    if role in SENIOR_ONLY:
        check(role, Action.CLOSE, priority, service_type)
    else:
        with pytest.raises(PermissionDenied) as denied:
            check(role, Action.CLOSE, priority, service_type)
        assert denied.value.reason == (
            f"{role.value} may not close {priority} {service_type} orders: only "
            f"senior_engineer, manager, admin may (rule close.{service_type})"
        )
        assert (denied.value.role, denied.value.action) == (role.value, "close")


def test_other_orders_may_be_closed_by_experienced_roles():
    check("mid_engineer", "close", "P3", "preventive")
    check("reliability_engineer", "close", "P4", "inspection")
    with pytest.raises(PermissionDenied, match="junior_engineer may not close P4 inspection orders.*close.default"):
        check("junior_engineer", "close", "P4", "inspection")


def test_anyone_may_acknowledge_and_only_seniors_assign():
    for role in Role:
        check(role, "acknowledge", "P1", "emergency_repair")
    check("manager", "assign", "P2")
    with pytest.raises(PermissionDenied, match="mid_engineer may not assign P2 orders"):
        check("mid_engineer", "assign", "P2")


def test_without_a_service_type_the_priority_rules_apply():
    matrix = PermissionMatrix(resolve={"default": ["junior_engineer"], "P1": ["senior_engineer"]})
    matrix.check("senior_engineer", "resolve", "P1")
    with pytest.raises(PermissionDenied, match="rule resolve.P1"):
        matrix.check("junior_engineer", "resolve", "P1")
    matrix.check("junior_engineer", "resolve", "P2")


def test_when_priority_and_service_type_rules_both_match_both_must_allow():
    matrix = PermissionMatrix(
        close={
            "default": list(Role),
            "P1": ["manager", "senior_engineer"],
            "corrective": ["senior_engineer", "mid_engineer"],
        }
    )
    matrix.check("senior_engineer", "close", "P1", "corrective")
    with pytest.raises(PermissionDenied, match=r"only senior_engineer may \(rule close.P1 \+ close.corrective\)"):
        matrix.check("manager", "close", "P1", "corrective")
    matrix.check("manager", "close", "P1", "preventive")


def test_a_rule_allowing_nobody_says_so():
    matrix = PermissionMatrix(reopen={"default": [], "P4": ["admin"]})
    with pytest.raises(PermissionDenied, match="only nobody may"):
        matrix.check("admin", "reopen", "P3")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("chief", "close", "P1"), "unknown role 'chief'"),
        (("manager", "delete", "P1"), "unknown action 'delete'"),
        (("manager", "close", "P7"), "unknown priority 'P7'"),
    ],
)
def test_unknown_names_are_errors_not_refusals(args, named):
    with pytest.raises(ValueError, match=named) as raised:
        DEFAULT_PERMISSIONS.check(*args)
    assert not isinstance(raised.value, PermissionDenied)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"close": {"P1": ["admin"]}}, "needs a 'default'"),
        ({"close": {"default": ["admin"], "urgent": ["admin"]}}, "unknown rule key 'urgent'"),
        ({"close": {"default": ["boss"]}}, "boss"),
        ({"delete": {"default": ["admin"]}}, "delete"),
    ],
)
def test_bad_matrices_are_refused_naming_the_value(rules, message):
    with pytest.raises(ValidationError, match=message):
        PermissionMatrix.model_validate(rules)
