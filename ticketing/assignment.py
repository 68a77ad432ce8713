"""Who gets an order: an engineer at its site, with the skills its fault mode needs, least loaded.

The rules come from the ``assignment:`` and ``engineers:`` parts of the configuration: only roles that
receive orders automatically are considered, the site must match (unless ``match_site: false``), the
engineer must hold every skill ``fault_skills`` lists for the fault mode and a role the permission
matrix lets resolve the order (no junior engineer on emergency work), and nobody gets more than
``max_open_per_engineer`` unfinished orders. Among those qualified, the one with the fewest
unfinished orders wins; ties go by name, so the choice is repeatable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from faultline.ticketing.config import AssignmentSettings, EngineerSettings, TicketingConfig
from faultline.ticketing.models import WorkOrder
from faultline.ticketing.roles import DEFAULT_PERMISSIONS, Action, PermissionMatrix
from faultline.ticketing.store import WorkOrderStore

log = logging.getLogger(__name__)


class Assigner:
    """Chooses an engineer for an order.

    Parameters
    ----------
    settings
        The assignment rules.
    engineers
        Everyone orders may go to.
    workload
        Returns the number of unfinished orders per engineer name (the store's
        ``open_orders_per_assignee``), read afresh for every choice.
    permissions
        Who may resolve which orders; an engineer whose role may not is never chosen.
    """

    def __init__(
        self,
        settings: AssignmentSettings,
        engineers: Sequence[EngineerSettings],
        workload: Callable[[], Mapping[str, int]],
        permissions: PermissionMatrix = DEFAULT_PERMISSIONS,
    ):
        self.settings, self.engineers, self.workload = settings, list(engineers), workload
        self.permissions = permissions

    @classmethod
    def from_config(cls, config: TicketingConfig, store: WorkOrderStore) -> "Assigner":
        return cls(config.assignment, config.engineers, store.open_orders_per_assignee, config.permissions)

    def qualified(self, order: WorkOrder, load: Mapping[str, int] | None = None) -> list[EngineerSettings]:
        """The engineers who may take ``order`` now, in configuration order."""
        rules = self.settings
        needed = set(rules.fault_skills.get(order.fault_mode, ()))
        load = self.workload() if load is None else load
        may_resolve, _ = self.permissions.allowed(Action.RESOLVE, order.priority, order.service_type.value)
        return [
            e
            for e in self.engineers
            if e.role in rules.roles
            and e.role in may_resolve
            and (not rules.match_site or order.site in e.sites)
            and needed <= set(e.skills)
            and (rules.max_open_per_engineer is None or load.get(e.name, 0) < rules.max_open_per_engineer)
        ]

    def choose(self, order: WorkOrder) -> str | None:
        """The least-loaded qualified engineer's name, or None (logged) when nobody qualifies."""
        load = self.workload()
        candidates = self.qualified(order, load)
        if not candidates:
            log.warning(
                "no qualified engineer for %s at %s (fault mode %s): left unassigned",
                order.number,
                order.site,
                order.fault_mode,
            )
            return None
        return min(candidates, key=lambda e: (load.get(e.name, 0), e.name)).name
