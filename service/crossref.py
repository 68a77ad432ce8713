"""Cross-references between the configuration files: every site and asset the detectors or the fleet
can produce must map to a ticketing site (and so a calendar), with the same criticality.

A finding whose site ticketing does not know cannot become a work order; the shipped files once
disagreed (the fleet's ``north``/``south`` against ticketing's ``plant-a``/``plant-b``) and every
detection was lost. `faultline run` refuses to start on a problem found here, naming it in one line;
`faultline check-config FILE --fleet FLEET` also checks a simulator fleet file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from faultline.detectors import DetectorsConfig
from faultline.ticketing import TicketingConfig


def reference_problems(
    detectors: DetectorsConfig, ticketing: TicketingConfig, fleet: dict[str, Any] | None = None
) -> list[str]:
    """One line per broken reference (empty when the files agree).

    >>> from faultline.ticketing.config import default_ticketing_config
    >>> from faultline.service.settings import default_detectors_config
    >>> reference_problems(default_detectors_config(), default_ticketing_config())
    []
    """
    sites = set(ticketing.sites)
    known = ", ".join(sorted(sites))
    fix = (
        "add it under ticketing.sites"
        if ticketing.default_site is None
        else f"(it is filed under default_site {ticketing.default_site!r})"
    )
    problems = []
    if ticketing.default_site is None:
        for name, asset in sorted(detectors.assets.items()):
            if asset.site is not None and asset.site not in sites:
                problems.append(
                    f"detectors.assets.{name}.site: {asset.site!r} is not a ticketing site "
                    f"(configured: {known}); {fix} or set ticketing.default_site"
                )
    for i, asset in enumerate((fleet or {}).get("assets") or []):
        name = asset.get("id", f"#{i + 1}")
        site = asset.get("site")
        if site is not None and site not in sites and ticketing.default_site is None:
            problems.append(
                f"fleet assets.{name}.site: {site!r} is not a ticketing site (configured: {known}); "
                f"{fix} or set ticketing.default_site"
            )
        given = asset.get("criticality")
        if given is not None and str(given) != ticketing.criticality_of(name).value:
            problems.append(
                f"fleet assets.{name}.criticality: {given!r} but ticketing gives "
                f"{ticketing.criticality_of(name).value!r} (ticketing.asset_criticality)"
            )
    for i, gateway in enumerate((fleet or {}).get("gateways") or []):
        site = gateway.get("site")
        if site is not None and site not in sites and ticketing.default_site is None:
            problems.append(
                f"fleet gateways.{gateway.get('id', i + 1)}.site: {site!r} is not a ticketing site "
                f"(configured: {known}); {fix} or set ticketing.default_site"
            )
    return problems


def load_fleet(path: str | Path) -> dict[str, Any]:
    """A fleet file as plain data (only its sites, assets and criticalities are read here); raises
    ``ConfigError`` naming the file and, for bad YAML, the line."""
    from faultline.service.settings import ConfigError, yaml_problem

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [yaml_problem(exc)]) from exc
    return data if isinstance(data, dict) else {}


__all__ = ["load_fleet", "reference_problems"]
