"""Assignment: site, skills and workload decide; the configuration's rules are followed."""

from __future__ import annotations

from tests.ticketing.conftest import T0
from faultline.ticketing.assignment import Assigner
from faultline.ticketing.config import AssignmentSettings
from faultline.ticketing.models import ServiceType, WorkOrder


def order(site="north", fault_mode="imbalance") -> WorkOrder:
    return WorkOrder(
        id=1, site=site, asset="pump-1", fault_mode=fault_mode, service_type="corrective", priority="P2", opened_at=T0
    )


def assigner(config, load=None, **rules):
    settings = config.assignment.model_copy(update=rules) if rules else config.assignment
    return Assigner(settings, config.engineers, lambda: dict(load or {}))


def test_least_loaded_qualified_engineer_at_the_site_gets_it(config):
    # imbalance needs vibration: anna and jonas at north (marta is a manager, not auto-assigned)
    assert [e.name for e in assigner(config).qualified(order())] == ["anna.schmidt", "jonas.weber"]
    assert assigner(config, {"anna.schmidt": 3, "jonas.weber": 1}).choose(order()) == "jonas.weber"
    assert assigner(config, {"anna.schmidt": 1, "jonas.weber": 1}).choose(order()) == "anna.schmidt"  # tie: name


def test_skills_of_the_fault_mode_are_all_required(config):
    # misalignment needs vibration and alignment: only anna
    assert assigner(config, {"anna.schmidt": 9}).choose(order(fault_mode="misalignment")) == "anna.schmidt"
    # a fault mode without listed skills: anyone at the site in an auto-assigned role
    names = [e.name for e in assigner(config).qualified(order(fault_mode="no_data"))]
    assert names == ["anna.schmidt", "jonas.weber", "lea.fischer"]


def test_other_site_gets_its_own_engineers(config):
    assert assigner(config).choose(order(site="south")) == "sam.ortiz"


def test_workload_cap_and_nobody_qualified(config, caplog):
    capped = assigner(config, {"anna.schmidt": 2, "jonas.weber": 2}, max_open_per_engineer=2)
    assert capped.choose(order()) is None
    assert "no qualified engineer" in caplog.text


def test_site_matching_can_be_switched_off(config):
    names = [e.name for e in assigner(config, match_site=False).qualified(order(site="south"))]
    assert "anna.schmidt" in names and "sam.ortiz" in names
    assert isinstance(config.assignment, AssignmentSettings)


def test_nobody_is_chosen_whose_role_may_not_resolve_the_order(config):
    # a P1 emergency with no skill listed: lea (junior) may not resolve emergency work, so she is left out
    p1 = order(fault_mode="no_data").model_copy(update={"priority": "P1", "service_type": ServiceType.EMERGENCY_REPAIR})
    matrix_aware = Assigner(config.assignment, config.engineers, dict, config.permissions)
    assert [e.name for e in matrix_aware.qualified(p1)] == ["anna.schmidt", "jonas.weber"]
    assert [e.name for e in matrix_aware.qualified(order(fault_mode="no_data"))] == [
        "anna.schmidt",
        "jonas.weber",
        "lea.fischer",
    ]
