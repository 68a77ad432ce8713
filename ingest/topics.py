"""Topic templates: ``faultline/{site}/{asset}/{sensor}`` turns a topic into tags.

A template is a ``/``-separated list of segments; a segment is either literal text or one
``{name}`` placeholder. Parsing a topic splits it on ``/`` and compares segment by segment, and the
result is cached because the same few thousand topics arrive again and again.
"""

from __future__ import annotations

import re

from faultline.ingest.errors import PayloadError, shown

_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_MQTT_WILDCARDS = ("+", "#")

#: The segment a gateway topic has where a reading topic has its asset: ``faultline/{site}/_gateway/{gateway}``.
GATEWAY_SEGMENT = "_gateway"


class TopicTemplate:
    """A topic pattern whose ``{name}`` segments become tags.

    Parameters
    ----------
    template : str
        E.g. ``"faultline/{site}/{asset}/{sensor}"``. Each placeholder fills a whole segment, names
        are identifiers and appear once; literal segments may not contain MQTT wildcards.
    cache_size : int
        How many parsed topics to remember; the cache is emptied when it fills up, which keeps memory
        bounded when topics are unbounded (a misbehaving gateway inventing names).

    Raises
    ------
    ValueError
        When the template is malformed; the message names the bad segment.

    Examples
    --------
    >>> t = TopicTemplate("faultline/{site}/{asset}/{sensor}")
    >>> t.parse("faultline/plant1/pump7/bearing_temp")
    {'site': 'plant1', 'asset': 'pump7', 'sensor': 'bearing_temp'}
    >>> t.subscription
    'faultline/+/+/+'
    >>> t.gateway().template
    'faultline/{site}/_gateway/{gateway}'
    """

    def __init__(self, template: str, cache_size: int = 100_000):
        if not isinstance(template, str) or not template:
            raise ValueError(f"topic template {template!r} is empty")
        self.template = template
        self._segments: list[tuple[bool, str]] = []  # (is_placeholder, name or literal text)
        seen: set[str] = set()
        for position, segment in enumerate(template.split("/")):
            match = _PLACEHOLDER.match(segment)
            if match:
                name = match.group(1)
                if name in seen:
                    raise ValueError(f"topic template {template!r} names {{{name}}} twice")
                seen.add(name)
                self._segments.append((True, name))
            elif "{" in segment or "}" in segment:
                raise ValueError(
                    f"topic template {template!r}: segment {position + 1} {segment!r} must be "
                    "literal text or exactly one {name} placeholder"
                )
            elif any(w in segment for w in _MQTT_WILDCARDS):
                raise ValueError(f"topic template {template!r}: segment {segment!r} contains an MQTT wildcard")
            else:
                self._segments.append((False, segment))
        if not seen:
            raise ValueError(
                f"topic template {template!r} has no {{name}} placeholder; "
                "write e.g. faultline/{site}/{asset}/{sensor}"
            )
        self.names: tuple[str, ...] = tuple(name for is_name, name in self._segments if is_name)
        self._cache: dict[str, dict[str, str]] = {}
        self._cache_size = cache_size

    def __repr__(self) -> str:
        return f"TopicTemplate({self.template!r})"

    @property
    def subscription(self) -> str:
        """The MQTT topic filter that matches every topic of this template (placeholders as ``+``)."""
        return "/".join("+" if is_name else text for is_name, text in self._segments)

    def subscriptions(self) -> list[str]:
        """The MQTT topic filters for readings and gateway messages, without overlap.

        ``faultline/+/+/+`` already matches every gateway topic ``faultline/+/_gateway/+``, and a
        broker may deliver a message once per matching subscription (Mosquitto 2.0 does with MQTT 5:
        measured, two deliveries of each gateway message), so a filter that another covers is left
        out.

        >>> TopicTemplate("faultline/{site}/{asset}/{sensor}").subscriptions()
        ['faultline/+/+/+']
        >>> TopicTemplate("plant/{site}/{line}/{asset}/{sensor}").subscriptions()
        ['plant/+/+/+/+', 'plant/+/_gateway/+']
        """
        reading, gateway = self.subscription, self.gateway().subscription
        return [reading] if _covers(reading, gateway) else [reading, gateway]

    def gateway(self) -> "TopicTemplate":
        """The template of gateway messages that goes with this reading template.

        It keeps the literal prefix and the ``{site}`` placeholder, if any, up to the first other
        placeholder, then adds ``_gateway/{gateway}``: ``faultline/{site}/{asset}/{sensor}`` gives
        ``faultline/{site}/_gateway/{gateway}``.
        """
        prefix = []
        for is_name, text in self._segments:
            if is_name and text != "site":
                break
            prefix.append("{site}" if is_name else text)
        return TopicTemplate("/".join([*prefix, GATEWAY_SEGMENT, "{gateway}"]), self._cache_size)

    def topic(self, tags: dict[str, str]) -> str | None:
        """The topic whose `parse` gives these tags; None when a placeholder has no tag.

        >>> TopicTemplate("faultline/{site}/{asset}/{sensor}").topic({"site": "p", "asset": "a", "sensor": "t"})
        'faultline/p/a/t'
        """
        parts = []
        for is_placeholder, text in self._segments:
            if is_placeholder and text not in tags:
                return None
            parts.append(tags[text] if is_placeholder else text)
        return "/".join(parts)

    def parse(self, topic: str) -> dict[str, str]:
        """The placeholder values of ``topic``, e.g. ``{"site": .., "asset": .., "sensor": ..}``.

        The returned dict is shared by the cache: do not modify it.

        Raises
        ------
        PayloadError
            When the topic does not fit the template, or a placeholder segment is empty or holds a
            character line protocol cannot carry (newline, carriage return); the reason names the topic.
        """
        tags = self._cache.get(topic)
        if tags is not None:
            return tags
        tags = self._parse(topic)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[topic] = tags
        return tags

    def _parse(self, topic: str) -> dict[str, str]:
        parts = topic.split("/")
        if len(parts) != len(self._segments):
            raise PayloadError(
                f"topic {shown(topic)} has {len(parts)} segments, template {self.template!r} has {len(self._segments)}"
            )
        tags = {}
        for part, (is_name, text) in zip(parts, self._segments):
            if not is_name:
                if part != text:
                    raise PayloadError(
                        f"topic {shown(topic)} does not match template {self.template!r}: "
                        f"{part!r} where {text!r} was expected"
                    )
                continue
            if not part:
                raise PayloadError(f"topic {shown(topic)} has an empty {{{text}}} segment")
            try:
                check_tag_value(text, part)
            except PayloadError as exc:
                raise PayloadError(f"topic {shown(topic)}: {exc.reason}") from None
            tags[text] = part
        return tags


def _covers(wide: str, narrow: str) -> bool:
    """True when every topic matching filter ``narrow`` also matches ``wide`` (filters with ``+`` only)."""
    wide_levels, narrow_levels = wide.split("/"), narrow.split("/")
    return len(wide_levels) == len(narrow_levels) and all(
        w == "+" or w == n for w, n in zip(wide_levels, narrow_levels)
    )


def check_tag_value(name: str, value: str) -> None:
    """Raise `PayloadError` when ``value`` cannot be a tag value in line protocol (empty or multi-line)."""
    if not value:
        raise PayloadError(f"{name} is empty")
    if "\n" in value or "\r" in value:
        raise PayloadError(f"{name} {shown(value)} contains a line break, which line protocol cannot carry")
