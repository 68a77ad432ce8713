"""``/api/v1/readings``: one asset's sensor over a time range, from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query

from faultline.service.app.deps import ClockDep, DetectionDep, Reader, ReadingsDep
from faultline.service.app.errors import Time, error
from faultline.service.app.schemas import ReadingsOut
from faultline.service.readers import Series

router = APIRouter(prefix="/api/v1/readings", tags=["readings"])


def _aware(value: datetime | None, default: datetime, name: str) -> datetime:
    if value is None:
        return default
    if value.tzinfo is None:
        raise HTTPException(422, detail=f"{name} {value.isoformat()} has no time zone (add Z or +01:00)")
    return value.astimezone(UTC)


def _ns(when: datetime) -> int:
    return int(when.timestamp() * 1e6) * 1000


@router.get("", response_model=ReadingsOut, responses={502: error("the time-series store did not answer")})
def readings(
    store: ReadingsDep,
    detection: DetectionDep,
    clock: ClockDep,
    who: Reader,
    asset: str,
    sensor: str,
    start: Time | None = None,
    end: Time | None = None,
    max_points: Annotated[int, Query(ge=10, le=100_000)] = 5000,
) -> ReadingsOut:
    """Readings with ``start <= ts < end`` (default: the last 24 h), thinned to ``max_points`` by striding.

    ``sensor`` may name a waveform feature as ``accel.rms``. ``thresholds`` lists the parameters of
    each check watching this sensor, for drawing limits on a chart.
    """
    end_at = _aware(end, clock.now(), "end")
    start_at = _aware(start, end_at - timedelta(days=1), "start")
    if end_at <= start_at:
        raise HTTPException(422, detail=f"end {end_at.isoformat()} must be after start {start_at.isoformat()}")
    matches = [s for s in store.series() if s.asset == asset and s.sensor == sensor]
    series = matches[0] if matches else Series(None, asset, sensor, store.measurement, "value", sensor)
    try:
        ts, value = store.query(series, _ns(start_at), _ns(end_at))
    except Exception as exc:  # noqa: BLE001 - the store's refusal, said plainly
        raise HTTPException(502, detail=f"the time-series store did not answer: {exc}") from None
    downsampled = len(ts) > max_points
    if downsampled:
        pick = np.linspace(0, len(ts) - 1, max_points).astype(np.int64)
        ts, value = ts[pick], value[pick]
    checks = detection.engine.config.checks_for(asset)
    thresholds = {
        name: {"detector": c.detector, **c.params, **extra}
        for name, (c, extra) in checks.items()
        if c.sensor in (sensor, "*")
    }
    return ReadingsOut(
        asset=asset,
        sensor=sensor,
        start=start_at,
        end=end_at,
        ts=[datetime.fromtimestamp(t / 1e9, tz=UTC) for t in ts.tolist()],
        value=value.tolist(),
        downsampled=downsampled,
        thresholds=thresholds,
    )
