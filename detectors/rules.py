"""Alert rules: turn a stream of scores into alerts an engineer can trust.

A rule watches each stream's scores and says when an alert opens, rises in severity and closes:

- **N-of-M**: a reading is *hot* when its score ≥ ``on``; the rule *triggers* when at least ``n``
  of the last ``m`` readings are hot (``n = m = 1``: every hot reading triggers).
- **Minimum duration**: the trigger must hold for ``min_duration_s`` before the alert opens; the
  alert's start is when the trigger first held.
- **Hysteresis**: an open alert clears only when the score falls below ``off`` (≤ ``on``).
- **Flap suppression**: the score must stay below ``off`` for ``clear_after_s`` before the alert
  closes; a relapse within that time continues the same alert instead of opening a new one.
- **Latching**: a latched alert stays open until ``acknowledge`` and a reading below ``off``.

The state machine is sequential by nature, but the per-reading work is vectorised (hot flags,
N-of-M counts) and the remaining loop visits only the streams that are, or become, alerting, and
jumps from one state change to the next rather than stepping through readings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from faultline.vocabulary import SEVERITIES

from faultline.detectors.streams import Grid, StreamingDetector, check_batch, trailing, windows

__all__ = ["Alert", "AlertRule"]
_IDLE, _PENDING, _ACTIVE, _CLEARING = 0, 1, 2, 3
_NS_PER_S = 1_000_000_000
AlertStatus = Literal["opened", "escalated", "closed"]


@dataclass(frozen=True)
class Alert:
    """A change in one stream's alert: ``opened``, ``escalated`` (severity rose) or ``closed``.

    Times are int64 nanoseconds. ``evidence`` summarises the readings since the alert's start:
    ``min``, ``max``, ``mean``, ``last``, ``n``, ``window_start_ns``, ``window_end_ns``. ``at_ns``
    is the time of the reading that caused the change and ``index`` its position in the batch
    given to ``update``.
    """

    stream: int
    status: AlertStatus
    started_at_ns: int
    ended_at_ns: int | None
    severity: str
    peak_score: float
    last_score: float
    evidence: dict[str, Any] = field(default_factory=dict)
    at_ns: int = 0
    index: int = -1


class AlertRule(StreamingDetector):
    """Per-stream alert state machine over detector scores (see the module docstring).

    Parameters
    ----------
    on, off : float
        Score at/above which a reading is hot; score below which an alert may clear.
    n, m : int
        Trigger when ``n`` of the last ``m`` readings are hot (``m`` ≤ 64).
    min_duration_s : float
        How long the trigger must hold before the alert opens.
    clear_after_s : float
        How long the score must stay below ``off`` before the alert closes.
    latch : bool
        Keep the alert open until acknowledged.
    severity_levels : dict of str to float
        Peak score from which each severity applies (``low`` ≤ ``medium`` ≤ ...).

    Examples
    --------
    Three of five hot readings open an alert; the score must drop below 0.8 to close it:

    >>> rule = AlertRule(on=1.0, off=0.8, n=3, m=5)
    >>> score = np.array([0.2, 1.3, 0.5, 1.2, 1.1, 0.9, 1.4, 0.7, 0.3])
    >>> for a in rule.update(np.zeros(9, int), np.arange(9) * 60 * 10**9, score, score * 10):
    ...     print(a.status, a.started_at_ns // 60e9, a.ended_at_ns and a.ended_at_ns // 60e9, a.severity)
    opened 4.0 None low
    closed 4.0 7.0 low
    """

    kind = "alert_rule"
    state_fields: ClassVar[dict[str, tuple[Any, Any, tuple[int | str, ...]]]] = {
        "hot": (np.float64, 0.0, ("hist_len",)),
        "phase": (np.int64, _IDLE, ()),
        "since": (np.int64, 0, ()),
        "started": (np.int64, 0, ()),
        "peak": (np.float64, 0.0, ()),
        "level": (np.int64, -1, ()),
        "acked": (np.bool_, False, ()),
        "n_obs": (np.int64, 0, ()),
        "vmin": (np.float64, np.inf, ()),
        "vmax": (np.float64, -np.inf, ()),
        "vsum": (np.float64, 0.0, ()),
        "vlast": (np.float64, np.nan, ()),
    }

    def __init__(
        self,
        on: float = 1.0,
        off: float = 0.8,
        n: int = 1,
        m: int = 1,
        min_duration_s: float = 0.0,
        clear_after_s: float = 0.0,
        latch: bool = False,
        severity_levels: Mapping[str, float] | None = None,
    ) -> None:
        if off > on:
            raise ValueError(f"off ({off}) must be <= on ({on}): the clear level sits below the alarm level")
        if not 1 <= n <= m <= 64:
            raise ValueError(f"need 1 <= n <= m <= 64, got n={n}, m={m}")
        if min_duration_s < 0 or clear_after_s < 0:
            raise ValueError(f"durations must be >= 0, got {min_duration_s}, {clear_after_s}")
        levels = dict(severity_levels or {"low": on, "medium": 1.5 * on, "high": 3.0 * on, "critical": 6.0 * on})
        unknown = set(levels) - set(SEVERITIES)
        if unknown:
            raise ValueError(f"unknown severity {sorted(unknown)[0]!r}; use {', '.join(SEVERITIES)}")
        self.on, self.off, self.n, self.m = float(on), float(off), int(n), int(m)
        self.min_duration_s, self.clear_after_s, self.latch = float(min_duration_s), float(clear_after_s), bool(latch)
        self.severity_levels = {k: float(levels[k]) for k in SEVERITIES if k in levels}
        ordered = list(self.severity_levels.values())
        if ordered != sorted(ordered):
            raise ValueError(f"severity_levels must rise with severity, got {self.severity_levels}")

    @property
    def hist_len(self) -> int:
        return self.m - 1

    def acknowledge(self, streams: np.ndarray) -> None:
        """Let latched alerts of these streams close at their next reading below ``off``."""
        streams = np.asarray(streams, dtype=np.int64)
        if len(streams):
            self._ensure(int(streams.max()) + 1)
            self.state_["acked"][streams] = True

    @property
    def levels_(self) -> np.ndarray:
        """Score from which each of SEVERITIES applies (inf where not configured)."""
        given = np.array([self.severity_levels.get(k, np.inf) for k in SEVERITIES])
        return np.minimum.accumulate(given[::-1])[::-1]  # a level not configured is skipped

    def _severity(self, peak: float) -> int:
        return int(np.searchsorted(self.levels_, peak, side="right")) - 1

    def update(self, stream: Any, ts_ns: Any, score: Any, value: Any = None) -> list[Alert]:  # type: ignore[override]
        """Advance the rule over a batch of scores (and the readings they came from).

        Parameters
        ----------
        stream, ts_ns : ndarray, shape (n,)
            As for the detectors.
        score : ndarray of float, shape (n,)
            Detector scores (1.0 = the detector's alarm level).
        value : ndarray of float, shape (n,), optional
            The readings, summarised in the evidence; default the scores.

        Returns
        -------
        list of Alert
            The changes, in time order per stream.
        """
        s, t, sc = check_batch(stream, ts_ns, score)
        v = sc if value is None else np.asarray(value, dtype=np.float64)
        if len(v) != len(s):
            raise ValueError(f"value has {len(v)} elements, score {len(s)}")
        if not len(s):
            return []
        self._ensure(int(s.max()) + 1)
        grid = Grid.of(s)
        st = {k: a[grid.streams] for k, a in self.state_.items()}
        ts, scg, vg = grid.spread(t, 0), grid.spread(sc), grid.spread(v)
        hot = np.where(np.isnan(scg), 0.0, (scg >= self.on).astype(np.float64))
        trig = windows(st["hot"], hot, self.m).sum(axis=-1) >= self.n
        st["hot"] = trailing(st["hot"], hot, grid.counts)
        cold = scg < self.off
        position = grid.spread(np.arange(len(s)), -1)
        alerts: list[Alert] = []
        busy = np.flatnonzero((st["phase"] != _IDLE) | trig.any(axis=1))
        for r in busy:
            c = int(grid.counts[r])
            alerts.extend(
                self._run(
                    r,
                    int(grid.streams[r]),
                    ts[r, :c],
                    scg[r, :c],
                    vg[r, :c],
                    trig[r, :c],
                    cold[r, :c],
                    st,
                    position[r, :c],
                )
            )
        for k, a in st.items():
            self.state_[k][grid.streams] = a
        return alerts

    def _run(
        self,
        r: np.intp,
        sid: int,
        ts: np.ndarray,
        score: np.ndarray,
        value: np.ndarray,
        trig: np.ndarray,
        cold: np.ndarray,
        st: dict[str, np.ndarray],
        position: np.ndarray,
    ) -> list[Alert]:
        """The state machine for one stream's readings in this batch, jumping between changes."""
        out: list[Alert] = []
        n = len(ts)
        trig_at, untrig_at = np.flatnonzero(trig), np.flatnonzero(~trig)
        cold_at, warm_at = np.flatnonzero(cold), np.flatnonzero(~cold)
        sev = np.searchsorted(self.levels_, score, side="right") - 1

        def next_in(idx: np.ndarray, i: int) -> int:
            j = np.searchsorted(idx, i)
            return int(idx[j]) if j < len(idx) else n

        def absorb(a: int, b: int) -> None:
            """Add readings [a, b) to the alert's evidence and peak."""
            if b <= a:
                return
            seg = value[a:b]
            st["n_obs"][r] += b - a
            st["vmin"][r] = min(st["vmin"][r], seg.min())
            st["vmax"][r] = max(st["vmax"][r], seg.max())
            st["vsum"][r] = np.cumsum(np.r_[st["vsum"][r], seg])[-1]  # sequential: split-invariant
            st["vlast"][r] = seg[-1]
            st["peak"][r] = max(st["peak"][r], score[a:b].max())

        def emit(status: AlertStatus, i: int, ended: int | None = None) -> None:
            out.append(self._alert(r, sid, status, float(score[i]), ended, int(ts[i]), st, int(position[i])))

        i = 0
        while i < n:
            phase = st["phase"][r]
            if phase == _IDLE:
                i = next_in(trig_at, i)
                if i == n:
                    break
                st["phase"][r], st["since"][r] = _PENDING, ts[i]
                st["n_obs"][r], st["vsum"][r], st["peak"][r] = 0, 0.0, 0.0
                st["vmin"][r], st["vmax"][r] = np.inf, -np.inf
            elif phase == _PENDING:
                end = next_in(untrig_at, i)
                due = i + int(np.searchsorted(ts[i:end], st["since"][r] + self.min_duration_s * _NS_PER_S))
                if due < end:
                    absorb(i, due + 1)
                    st["phase"][r], st["started"][r] = _ACTIVE, st["since"][r]
                    st["level"][r] = max(self._severity(st["peak"][r]), 0)
                    st["acked"][r] = False
                    emit("opened", due)
                    i = due + 1
                else:
                    absorb(i, end)
                    if end < n:
                        st["phase"][r] = _IDLE
                    i = end
            elif phase == _ACTIVE:
                c = next_in(cold_at, i)
                while self.latch and not st["acked"][r] and c < n:  # latched: cold readings do not clear
                    c = next_in(cold_at, c + 1)
                rise = i + np.flatnonzero(sev[i:c] > st["level"][r])
                while len(rise):  # escalate at the reading that crossed the next severity level
                    j = int(rise[0])
                    absorb(i, j + 1)
                    st["level"][r] = sev[j]
                    emit("escalated", j)
                    i = j + 1
                    rise = rise[sev[rise] > st["level"][r]]
                absorb(i, c)
                if c == n:
                    break
                st["phase"][r], st["since"][r] = _CLEARING, ts[c]
                i = c
            else:  # _CLEARING
                w = next_in(warm_at, i)
                due = i + int(np.searchsorted(ts[i:w], st["since"][r] + self.clear_after_s * _NS_PER_S))
                if due < w:
                    st["phase"][r] = _IDLE
                    emit("closed", due, ended=int(st["since"][r]))
                    i = due + 1
                elif w < n:
                    st["phase"][r] = _ACTIVE  # relapse within clear_after_s: the same alert goes on
                    i = w
                else:
                    break
        return out

    def _alert(
        self,
        r: np.intp,
        sid: int,
        status: AlertStatus,
        last_score: float,
        ended: int | None,
        now_ns: int,
        st: dict[str, np.ndarray],
        index: int,
    ) -> Alert:
        k = int(st["n_obs"][r])
        evidence = {
            "min": float(st["vmin"][r]),
            "max": float(st["vmax"][r]),
            "mean": float(st["vsum"][r] / k) if k else float("nan"),
            "last": float(st["vlast"][r]),
            "n": k,
            "window_start_ns": int(st["started"][r]),
            "window_end_ns": ended or now_ns,
        }
        return Alert(
            stream=sid,
            status=status,
            started_at_ns=int(st["started"][r]),
            ended_at_ns=ended,
            severity=SEVERITIES[int(st["level"][r])],
            peak_score=float(st["peak"][r]),
            last_score=last_score,
            evidence=evidence,
            at_ns=now_ns,
            index=index,
        )

    def active(self) -> np.ndarray:
        """Stream ids with an open alert (including one waiting out ``clear_after_s``)."""
        phase = getattr(self, "state_", {}).get("phase")
        return np.empty(0, np.int64) if phase is None else np.flatnonzero((phase == _ACTIVE) | (phase == _CLEARING))
