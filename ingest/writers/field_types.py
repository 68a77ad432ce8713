"""What a writer knows of the store's field types, so that the points of a conflicting field are
sent apart and refused in one request, instead of found by bisecting every request they are in.

Every Faultline value is a float. InfluxDB keeps one type per field *per shard* and refuses a float
point for a field the shard holds as integer, string or boolean, with a "field type conflict" (HTTP
400 from 1.x, 422 from 2.x; the good points of the request are stored). The message names one field,
its measurement, the type held, and how many points of that shard were dropped:

    partial write: field type conflict: input field "value" on measurement "legacy" is type float,
    already exists as type integer dropped=3

Fields become suspect in two ways:

* the message of a refused request (on every API; the v2 API has no listing of field types:
  InfluxDB 2.x answers ``SHOW FIELD KEYS`` only through a v1 database mapping, and Flux's
  ``schema.fieldKeys`` gives no types);
* a listing of the store's field types (``SHOW FIELD KEYS`` on the v1 API): every field held as
  other than float in some shard, all at once.

A suspect field's points are not dead-lettered on suspicion: the writer sends them in a request of
their own (one per field), and the store's answer decides. ``dropped`` equal to the request's lines
means every point was refused: all are dead-lettered with the exact reason, in one request. A 204
means the field takes floats (the listing saw an old shard, or the field was dropped since): it is
no longer suspect, learned from the points written. Anything in between (points in several shards)
is bisected within those points only. VictoriaMetrics stores every field as a float64 and never
reports a conflict, so nothing is learned there.
"""

from __future__ import annotations

import re

import numpy as np

from faultline.ingest.readings import Readings

Field = tuple[str, str]  # (measurement, field)

# 1.x: 'partial write: field type conflict: input field "value" on measurement "telemetry" is type float,
# already exists as type integer dropped=3'; 2.x the same after 'failure writing points to database: '
CONFLICT = re.compile(
    r'field type conflict: input field "((?:[^"\\]|\\.)*)" on measurement "((?:[^"\\]|\\.)*)"'
    r" is type (\w+), already exists as type (\w+)(?: dropped=(\d+))?"
)


def conflict_in(message: str) -> tuple[Field, str, int | None] | None:
    """The (measurement, field), the type held and the dropped count a store's error message names.

    >>> conflict_in('partial write: field type conflict: input field "value" on measurement '
    ...             '"legacy" is type float, already exists as type integer dropped=3')
    (('legacy', 'value'), 'integer', 3)
    >>> conflict_in("unable to parse 'x': missing fields") is None
    True
    """
    found = CONFLICT.search(message)
    if found is None:
        return None
    field, measurement, _, held, dropped = found.groups()
    unquote = lambda text: re.sub(r"\\(.)", r"\1", text)  # noqa: E731
    return (unquote(measurement), unquote(field)), held, int(dropped) if dropped else None


def conflict_reason(key: Field, held: str) -> str:
    """The dead-letter reason of a point refused for a field type conflict.

    >>> conflict_reason(("legacy", "value"), "integer")
    'field type conflict: the store holds field "value" of measurement "legacy" as integer; this reading is a float'
    """
    measurement, field = key
    return (
        f'field type conflict: the store holds field "{field}" of measurement "{measurement}" as {held}; '
        "this reading is a float"
    )


class FieldTypes:
    """The suspect fields: those the store may hold as other than float.

    Examples
    --------
    >>> from faultline.ingest.readings import SeriesKey
    >>> types = FieldTypes()
    >>> types.learn_listing({("legacy", "value"): {"integer"}, ("telemetry", "value"): {"float"}})
    True
    >>> r = Readings((SeriesKey.of("telemetry", {"a": "1"}), SeriesKey.of("legacy", {"a": "2"})),
    ...              np.array([0, 1, 0], np.int32), np.array([1, 2, 3]), np.array([0.5, 1.5, 2.5]))
    >>> kept, apart = types.split(r)
    >>> kept.value.tolist(), {key: rows.value.tolist() for key, rows in apart.items()}
    ([0.5, 2.5], {('legacy', 'value'): [1.5]})
    >>> types.accepts(("legacy", "value")); types.learn_listing({("legacy", "value"): {"integer"}})
    False
    """

    def __init__(self):
        #: (measurement, field) -> the type the store is said to hold it as
        self.suspect: dict[Field, str] = {}
        #: fields whose points the store took as floats since a listing named them
        self._accepting: set[Field] = set()

    def learn_listing(self, types: dict[Field, set[str]]) -> bool:
        """Take a listing ``(measurement, field) -> {types}``; True when a field became suspect.

        A field the store took floats for since is not suspect again by a listing (which does not
        say which shard holds which type), only by a conflict message."""
        new = False
        for key, kinds in types.items():
            others = sorted(kinds - {"float"})
            if others and key not in self.suspect and key not in self._accepting:
                self.suspect[key] = "/".join(others)
                new = True
        return new

    def learn_error(self, message: str) -> bool:
        """Learn the conflict a store's error message names; True when its field became suspect."""
        found = conflict_in(message)
        if found is None:
            return False
        key, held, _ = found
        self._accepting.discard(key)
        new = self.suspect.get(key) != held
        self.suspect[key] = held
        return new

    def names_suspect(self, message: str) -> bool:
        """True when the field a store's error message names is suspect."""
        found = conflict_in(message)
        return found is not None and found[0] in self.suspect

    def accepts(self, key: Field) -> None:
        """The store took floats for this field: no longer suspect (until a conflict names it)."""
        if self.suspect.pop(key, None) is not None:
            self._accepting.add(key)

    def split(self, readings: Readings) -> tuple[Readings, dict[Field, Readings]]:
        """The rows of fields that are not suspect, and the rows of each suspect field apart."""
        if not self.suspect:
            return readings, {}
        positions: dict[Field, list[int]] = {}
        for position, s in enumerate(readings.series):
            if (key := (s.measurement, s.field)) in self.suspect:
                positions.setdefault(key, []).append(position)
        if not positions:
            return readings, {}
        apart = {}
        suspect_rows = np.zeros(len(readings), dtype=bool)
        for key, where in positions.items():
            rows = np.isin(readings.index, where)
            if rows.any():
                apart[key] = readings.take(rows)
                suspect_rows |= rows
        return readings.take(~suspect_rows), apart
