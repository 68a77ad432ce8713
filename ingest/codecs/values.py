"""Checked numbers and arrays from decoded payloads; each error names the key and the bad value."""

from __future__ import annotations

import numpy as np

from faultline.ingest.errors import PayloadError, shown

_NUMBER = (int, float)


def number(value: object, what: str) -> float:
    """``value`` as a finite float; `PayloadError` naming ``what`` otherwise."""
    if type(value) is float:  # not isinstance: a bool is not a number here
        if value - value != 0.0:
            raise PayloadError(f"{what} is {value!r}, expected a finite number")
        return value
    if type(value) is int:
        return float(value)
    if value is None:
        raise PayloadError(f"{what} is missing")
    raise PayloadError(f"{what} is {json_type(value)} {shown(value)}, expected a number")


def array(value: object, what: str, items: str, limit: int) -> list:
    """``value`` when it is a non-empty JSON array of at most ``limit`` entries."""
    if type(value) is not list:
        raise PayloadError(f"{what} is {shown(value)}, expected an array")
    if not value:
        raise PayloadError(f"{what} is an empty array")
    if len(value) > limit:
        raise PayloadError(f"{what} has {len(value)} {items}, over the limit of {limit}")
    return value


def numbers(values: list, what: str) -> np.ndarray:
    """A list of JSON numbers as a finite float64 array."""
    if not set(map(type, values)) <= {int, float}:
        k, bad = next((k, v) for k, v in enumerate(values) if type(v) not in _NUMBER)
        number(bad, f"{what}[{k}]")
    result = np.array(values, dtype=np.float64)
    finite = np.isfinite(result)
    if not finite.all():
        k = int(np.argmin(finite))
        raise PayloadError(f"{what}[{k}] is {values[k]!r}, expected a finite number")
    return result


def json_type(value: object) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


__all__ = ["array", "json_type", "number", "numbers"]
