"""The codecs ``mqtt.codecs`` can select by topic filter, and building them from their options."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from faultline.ingest.codecs.decoder import Codec
from faultline.ingest.codecs.sparkplug_b import SparkplugB
from faultline.ingest.codecs.thingsboard_gateway import ThingsboardGateway

#: codec name in the configuration -> ``from_options(options, template names)``
ROUTABLE: dict[str, Callable[[dict[str, Any], tuple[str, ...]], Codec]] = {
    "sparkplug_b": SparkplugB.from_options,
    "thingsboard_gateway": ThingsboardGateway.from_options,
}

#: what a configuration without ``mqtt.codecs`` routes: every format works out of the box
DEFAULT_ROUTES = (
    {"topic": "spBv1.0/#", "codec": "sparkplug_b"},
    {"topic": "v1/gateway/telemetry", "codec": "thingsboard_gateway"},
)


def build_codecs(
    routes: Sequence[tuple[str, str, dict[str, Any]]], template_names: tuple[str, ...]
) -> list[tuple[str, Codec]]:
    """``[(topic filter, codec)]`` from ``[(topic filter, codec name, options)]``; `ValueError` names a bad
    codec or option."""
    built = []
    for topic, name, options in routes:
        make = ROUTABLE.get(name)
        if make is None:
            raise ValueError(f"unknown codec {name!r} (known: {', '.join(sorted(ROUTABLE))})")
        built.append((topic, make(dict(options), template_names)))
    return built


__all__ = ["DEFAULT_ROUTES", "ROUTABLE", "build_codecs"]
