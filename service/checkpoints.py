"""Detector state kept where another worker can pick it up: a table in a shared database.

A worker's detector state (every check's per-stream arrays) normally lives in its own SQLite file
(`service.state.ServiceDb`). With ``service.state_url`` it is saved instead to a table in a database
every worker reaches (the work-order store's PostgreSQL, say), under the worker's ``service.shard``
name. A worker started with the same shard — after the first one died, on another machine — restores
the state and goes on judging its streams without learning them again.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text, create_engine, delete, inspect, select
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

_metadata = MetaData()
detector_state = Table(
    "faultline_detector_state",
    _metadata,
    Column("shard", String(200), primary_key=True),
    Column("name", String(50), primary_key=True),  # 'live' or 'shadow'
    Column("saved_at", String(40), nullable=False),
    Column("state", Text, nullable=False),
)


class SharedCheckpoints:
    """``save_state``/``load_state``/``drop_state`` of one shard, in a database shared by the workers.

    >>> from datetime import UTC, datetime
    >>> cp = SharedCheckpoints("sqlite://", "north")
    >>> cp.save_state("live", {"streams": [["P-1", "temp"]]}, datetime(2026, 12, 3, tzinfo=UTC))
    >>> cp.load_state("live")
    {'streams': [['P-1', 'temp']]}
    """

    def __init__(self, url: str, shard: str):
        self.shard = shard
        self._engine = create_engine(url)
        try:
            _metadata.create_all(self._engine, checkfirst=True)
        except (IntegrityError, ProgrammingError):
            # workers starting together: another created the table between the check and the CREATE
            if not inspect(self._engine).has_table(detector_state.name):
                raise
        self._insert = pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert

    def save_state(self, name: str, state: dict[str, Any], at: datetime) -> None:
        row = {"shard": self.shard, "name": name, "saved_at": at.isoformat(), "state": json.dumps(state)}
        stmt = self._insert(detector_state).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["shard", "name"], set_={"saved_at": row["saved_at"], "state": row["state"]}
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def load_state(self, name: str) -> dict[str, Any] | None:
        c = detector_state.c
        with self._engine.connect() as conn:
            found = conn.execute(select(c.state).where(c.shard == self.shard, c.name == name)).scalar()
        return json.loads(found) if found is not None else None

    def drop_state(self, name: str) -> None:
        c = detector_state.c
        with self._engine.begin() as conn:
            conn.execute(delete(detector_state).where(c.shard == self.shard, c.name == name))

    def close(self) -> None:
        self._engine.dispose()
