"""Compiled loops (numba) for the detectors whose work is a recursion along each stream; the detectors
reach them through `faultline.detectors.kernels`, which loads this module (and numba) at first use.

A recursion (a CUSUM sum, a trailing reference learned block by block) costs numpy several passes
over the whole grid per step, or one vector operation per column; a compiled loop does one pass,
reading each cell once, with each stream's state in cache. Every kernel here follows each stream in
reading order, with the same operations in the same order whatever the batch's layout (one stream
at a time, or, for baseline_scan on a grid of rounds, a stretch of each stream at a time), so its
results are the same bits however a stream's readings are split into batches.

Kernels take flat views and element strides (``flat``), so one compiled version serves grids laid
out by row (a batch grouped by stream) and by column (a batch of rounds, a transposed view). They
are compiled at their first call in a process and cached on disk (``cache=True``: numba writes the
machine code to ``__pycache__`` beside this file, or to its user cache when that is read-only).
Floating-point contraction (fused multiply-add) stays off, as it does in numba without ``fastmath``,
so each operation rounds as numpy's does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from faultline.detectors.kernels import BOTH, CUSUM, UP

__all__ = ["baseline_scan", "flat"]

_BLOCK = 16  # detectors.drift.BLOCK
_WINSOR = 4.0  # detectors.drift._WINSOR

# Columns of a grid laid out by column walked at a time (see baseline_scan): on 10,000 × 1,000 rounds
# the loop took 70 ms (CUSUM) and 58 ms (EWMA) with tiles of 16, 60 and 48 ms with 128, 80 ms a row at a time
_TILE = 128


def flat(a: np.ndarray) -> tuple[np.ndarray, int, int]:
    """A 2-D array as (flat view, row stride, column stride) in elements; a copy only when the array
    is neither row- nor column-contiguous."""
    if a.flags.c_contiguous:
        return a.reshape(-1), a.shape[1], 1
    if a.flags.f_contiguous:
        return a.T.reshape(-1), 1, a.shape[0]
    c = np.ascontiguousarray(a)
    return c.reshape(-1), a.shape[1], 1


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _cusum_score(uc, um, dc, dm, direction, h):
    """The CUSUM's score from its running sums and their minima, on the side(s) ``direction`` watches."""
    if direction == BOTH:
        return max(uc - um, dc - dm) / h
    if direction == UP:
        return (uc - um) / h
    return (dc - dm) / h


@njit(cache=True, nogil=True, error_model="numpy")
def baseline_scan(
    kind,
    x,
    xr,
    xc,
    out,
    o_r,
    o_c,
    counts,
    n,
    since,
    sm,
    sq,
    mu,
    var,
    frozen,
    block,
    bmax,
    upc,
    upm,
    dnc,
    dnm,
    zs,
    alpha,
    k,
    h,
    direction,
    has_clip,
    clip,
    limit_sigmas,
    min_std,
    learnt_after,
    w,
    learn_below,
    relearn_after,
):  # pragma: no cover - compiled
    """Score each stream's new readings against its trailing reference and learn each completed
    block, in reading order (the arithmetic of ``detectors.drift``, one reading at a time).

    ``x`` (values) and ``out`` (scores) are flat grids with their row and column strides; row ``r``
    holds ``counts[r]`` readings. The state arrays (one element, or one block, per row) are read and
    written in place: ``upc`` … ``dnm`` are the CUSUM's (C, M) per side, zeroed when a stream learns
    afresh; ``zs`` is the EWMA's smoothed value (NaN before a stream's first reading, which it then
    starts from), smoothed here with weight ``alpha`` as ``streams.exp_smooth`` does.

    A grid laid out by row (a batch grouped by stream) is walked a row at a time. A grid laid out by
    column (a batch of rounds: a stream's successive readings a whole round apart in memory) is
    walked in tiles of ``_TILE`` columns, the rows of a tile one after another: the cache lines a row
    reads in a tile (one per column) hold the next rows' readings too and are still in cache when
    those rows come, and memory is read in order, a column's stretch at a time. Each row's state is
    held in local variables while its readings of a tile are scored, and goes back to its arrays
    between tiles; the operations of each row, and so its bits, are the same either way.
    """
    rows = counts.shape[0]
    m = float(learnt_after)
    width = 0
    for r in range(rows):
        width = max(width, counts[r])
    tile = _TILE if xr < xc and rows > 1 else max(width, 1)
    keep = 1.0 - alpha
    ewma_factor = math.sqrt(alpha / (2.0 - alpha))
    for j0 in range(0, width, tile):
        for r in range(rows):
            c = min(counts[r], j0 + tile)
            j = j0
            if j >= c:
                continue
            nr, sn, s_m, s_q, mu_r, var_r, fr, bm = n[r], since[r], sm[r], sq[r], mu[r], var[r], frozen[r], bmax[r]
            uc, um, dc, dm, zz = upc[r], upm[r], dnc[r], dnm[r], zs[r]
            if math.isnan(zz):
                zz = x[r * xr + j * xc]
            sd = max(math.sqrt(max(var_r, 0.0)), min_std)
            while j < c:  # a block (or what of it is in this tile) at a time: `scored` holds for all of it
                p0 = nr & (_BLOCK - 1)
                e = min(c, j + _BLOCK - p0)
                scored = nr - sn >= learnt_after
                if kind == CUSUM and scored:
                    for jj in range(j, e):
                        v = x[r * xr + jj * xc]
                        y = (v - mu_r) / sd
                        if has_clip:
                            y = min(max(y, -clip), clip)
                        uc = uc + (y - k)
                        um = min(um, uc)
                        dc = dc + (-y - k)
                        dm = min(dm, dc)
                        score = _cusum_score(uc, um, dc, dm, direction, h)
                        out[r * o_r + jj * o_c] = score
                        bm = max(bm, score)
                        block[r, p0 + jj - j] = v
                elif kind == CUSUM:
                    score = _cusum_score(uc, um, dc, dm, direction, h)
                    for jj in range(j, e):
                        out[r * o_r + jj * o_c] = score
                        bm = max(bm, score)
                        block[r, p0 + jj - j] = x[r * xr + jj * xc]
                else:
                    for jj in range(j, e):
                        v = x[r * xr + jj * xc]
                        zz = zz * keep + v * alpha
                        score = abs(zz - mu_r) / (limit_sigmas * sd * ewma_factor) if scored else 0.0
                        out[r * o_r + jj * o_c] = score
                        bm = max(bm, score)
                        block[r, p0 + jj - j] = v
                nr += e - j
                j = e
                if nr & (_BLOCK - 1):
                    continue
                # a block completed: learn it (count: readings before it)
                count = nr - _BLOCK
                if not scored:  # warm-up: sums of the readings, then the reference at its end
                    for i in range(_BLOCK):
                        s_m += block[r, i]
                    for i in range(_BLOCK):
                        s_q += block[r, i] * block[r, i]
                    if count + _BLOCK - sn >= learnt_after:
                        mean = s_m / m
                        mu_r = mean
                        var_r = max(s_q - m * mean * mean, 0.0) / (m - 1)
                        fr = 0
                else:
                    lo, hi = mu_r - _WINSOR * sd, mu_r + _WINSOR * sd
                    if bm < learn_below:
                        s = 0.0
                        for i in range(_BLOCK):
                            s += min(max(block[r, i], lo), hi)
                        s2 = 0.0
                        for i in range(_BLOCK):
                            d = min(max(block[r, i], lo), hi) - mu_r
                            s2 += d * d
                        mu_r, var_r = mu_r + w * (s / _BLOCK - mu_r), var_r + w * (s2 / _BLOCK - var_r)
                        fr = 0
                    else:
                        fr += _BLOCK
                    if relearn_after and fr >= relearn_after:  # a new level held: learn it afresh
                        sn, s_m, s_q, fr = count + _BLOCK, 0.0, 0.0, 0
                        uc, um, dc, dm = 0.0, 0.0, 0.0, 0.0
                sd = max(math.sqrt(max(var_r, 0.0)), min_std)
                bm = 0.0
                for i in range(_BLOCK):
                    block[r, i] = np.nan
            n[r], since[r], sm[r], sq[r], mu[r], var[r], frozen[r], bmax[r] = nr, sn, s_m, s_q, mu_r, var_r, fr, bm
            upc[r], upm[r], dnc[r], dnm[r], zs[r] = uc, um, dc, dm, zz


_NS_PER_H = 3.6e12


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _terms(t, v, t_ref, v_ref, exponential, q):  # pragma: no cover - compiled
    """(1, x, x², y, y², xy) of one reading into ``q`` (x hours after ``t_ref``, y its value less
    ``v_ref``; all 0 for a reading that is not there: NaN, or ≤ 0 with ``exponential``)."""
    if exponential:
        v = math.log(v) if v > 0 else np.nan
    y = v - v_ref
    if math.isnan(y):
        for i in range(6):
            q[i] = 0.0
        return
    x = float(t - t_ref) / _NS_PER_H
    q[0] = 1.0
    q[1] = x
    q[2] = x * x
    q[3] = y
    q[4] = y * y
    q[5] = x * y


@njit(cache=True, nogil=True, error_model="numpy")
def trend_scan(
    sid,
    counts,
    ts,
    tr,
    tc,
    val,
    vr,
    vc,
    ring_t,
    ring_v,
    n,
    fit_score,
    fit_eta,
    fit_lo,
    fit_hi,
    o_score,
    o_r,
    o_c,
    o_eta,
    o_lo,
    o_hi,
    e_r,
    e_c,
    every,
    exponential,
    limit,
    horizon_h,
    min_points,
    z,
):  # pragma: no cover - compiled
    """detectors.trend.TrendToLimit over a grid, one stream at a time in reading order.

    Row ``r`` is stream ``sid[r]`` with ``counts[r]`` new readings (``ts``/``val``: flat grids and
    their strides). The state (``ring_t``/``ring_v``: reading number i of a stream in column
    i % window, ``n`` readings seen, ``fit_*`` the latest fit) is indexed by stream id and updated in
    place. Each reading's (score, hours, earliest, latest) go to ``o_score`` and ``o_eta`` … ``o_hi``.

    A window's sums are those of ``TrendToLimit._fits``: readings cut into blocks of ``window`` by
    their number, the head (forward from the block's first reading, which x and y are taken about)
    plus the tail (backward from the end of the previous block), added in the same order whatever
    the batch.
    """
    w = ring_t.shape[1]
    tail = np.zeros((w + 1, 6))  # tail[i]: sums over positions i … w - 1 of the previous block
    head = np.zeros(6)
    q = np.zeros(6)
    for r in range(sid.shape[0]):
        s = sid[r]
        c = counts[r]
        if c == 0:
            continue
        n0 = n[s]
        t_ref, v_ref = 0, 0.0
        for jj in range(c):
            e = n0 + jj
            j = e % w
            t_e = ts[r * tr + jj * tc]
            v_e = val[r * vr + jj * vc]
            if jj == 0 or j == 0:
                # the block of reading e: refs from its first reading, the previous block's tail
                # from the ring (still holding it from position j + 1 on), the head so far
                if j == 0:
                    t_ref, v0 = t_e, v_e
                else:
                    t_ref, v0 = ring_t[s, 0], ring_v[s, 0]
                if exponential:
                    v0 = math.log(v0) if v0 > 0 else np.nan
                v_ref = 0.0 if math.isnan(v0) else v0
                for i in range(w - 1, j, -1):
                    _terms(ring_t[s, i], ring_v[s, i], t_ref, v_ref, exponential, q)
                    if i == w - 1:
                        for m in range(6):
                            tail[i, m] = q[m]
                    else:
                        for m in range(6):
                            tail[i, m] = tail[i + 1, m] + q[m]
                for i in range(j):
                    _terms(ring_t[s, i], ring_v[s, i], t_ref, v_ref, exponential, q)
                    for m in range(6):
                        head[m] = q[m] if i == 0 else head[m] + q[m]
            ring_t[s, j] = t_e
            ring_v[s, j] = v_e
            _terms(t_e, v_e, t_ref, v_ref, exponential, q)
            for m in range(6):
                head[m] = q[m] if j == 0 else head[m] + q[m]
            if (e + 1) % every == 0:
                _fit(
                    head,
                    tail,
                    j,
                    w,
                    float(t_e - t_ref) / _NS_PER_H,
                    v_ref,
                    limit,
                    horizon_h,
                    min_points,
                    z,
                    s,
                    fit_score,
                    fit_eta,
                    fit_lo,
                    fit_hi,
                )
            o_score[r * o_r + jj * o_c] = fit_score[s]
            o_eta[r * e_r + jj * e_c] = fit_eta[s]
            o_lo[r * e_r + jj * e_c] = fit_lo[s]
            o_hi[r * e_r + jj * e_c] = fit_hi[s]
        n[s] = n0 + c


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _fit(
    head, tail, j, w, x_now, v_ref, limit, horizon_h, min_points, z, s, fit_score, fit_eta, fit_lo, fit_hi
):  # pragma: no cover - compiled
    """``TrendToLimit._fit`` of one window (head + tail from j + 1), into the stream's fit state."""
    if j + 1 < w:
        cnt, sx, sxx = head[0] + tail[j + 1, 0], head[1] + tail[j + 1, 1], head[2] + tail[j + 1, 2]
        sy, syy, sxy = head[3] + tail[j + 1, 3], head[4] + tail[j + 1, 4], head[5] + tail[j + 1, 5]
    else:
        cnt, sx, sxx, sy, syy, sxy = head[0], head[1], head[2], head[3], head[4], head[5]
    nn = max(cnt, 1.0)
    my = sy / nn
    mx = sx / nn
    cxx = sxx - sx * mx
    usable = cnt >= min_points and cxx > sxx * 1e-9
    cxy = sxy - sx * my
    cyy = syy - sy * my
    tm = mx - x_now
    safe = max(cxx, 1e-300)
    slope = cxy / safe
    level = (my + v_ref) - slope * tm
    res = max(cyy - slope * cxy, 0.0)
    se = math.sqrt(res / max(cnt - 2.0, 1.0) / safe)
    z_se = se * z
    rising = usable and slope > z_se
    eta = lo = hi = np.inf
    score = 0.0
    if rising:
        gap = max(limit - level, 0.0)
        eta = gap / slope
        lo = gap / (slope + z_se)
        hi = gap / (slope - z_se)
        score = horizon_h / max(eta, horizon_h / 100.0)
    if usable and level >= limit:
        score = 100.0
    fit_score[s] = score
    fit_eta[s] = eta
    fit_lo[s] = lo
    fit_hi[s] = hi


@njit(cache=True, nogil=True, error_model="numpy")
def no_data_scan(
    sid, counts, ts, tr, tc, out, o_r, o_c, last_ts, ew_log, ew_w, alpha, max_gap_s, intervals
):  # pragma: no cover - compiled
    """detectors.health.NoData over a grid, one stream at a time in reading order: each reading's
    gap since the newest earlier reading, over the silence allowed before it; the cadence (the
    exponentially weighted mean of the logs of the true intervals) learned as it goes. State indexed
    by stream id (``sid[r]`` for row ``r``), updated in place."""
    keep = 1.0 - alpha
    for r in range(sid.shape[0]):
        s = sid[r]
        seen, lg, wt = last_ts[s], ew_log[s], ew_w[s]
        for j in range(counts[r]):
            t = ts[r * tr + j * tc]
            score = 0.0
            gap_s = 0.0
            if seen >= 0:
                gap_s = max(t - seen, 0) / 1e9
                cadence = 10.0 ** (lg / wt) if wt > 0 else 0.0
                score = gap_s / max(max_gap_s, intervals * cadence)
            out[r * o_r + j * o_c] = score
            if gap_s > 0:  # only true intervals count (not a first reading, a late one or a duplicate)
                lg = alpha * math.log10(gap_s) + keep * lg
                wt = alpha * 1.0 + keep * wt
            else:
                lg = alpha * 0.0 + keep * lg
                wt = alpha * 0.0 + keep * wt
            seen = max(seen, t)
        last_ts[s], ew_log[s], ew_w[s] = seen, lg, wt


@njit(cache=True, nogil=True)
def periodic(a, size):  # pragma: no cover - compiled
    """``(a[size:] == a[:-size]).all()``, stopping at the first difference, without the temporaries."""
    for i in range(size, a.shape[0]):
        if a[i] != a[i - size]:
            return False
    return True


@njit(cache=True, nogil=True)
def all_finite(a):  # pragma: no cover - compiled
    """``np.isfinite(a).all()`` in one pass, stopping at the first NaN or infinity."""
    for i in range(a.shape[0]):
        if not math.isfinite(a[i]):
            return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def stuck_scan(
    sid, counts, x, xr, xc, out, o_r, o_c, last, run, longest, n, tolerance, window, factor, warmup
):  # pragma: no cover - compiled
    """detectors.health.StuckSensor over a grid, each stream in reading order: the run of readings
    within ``tolerance`` of their predecessor over ``max(window, factor × longest)``, a run that ends
    below that limit (or in the warm-up) learned as the stream's ``longest`` normal run; 0 for a
    stream's first ``warmup`` readings. State indexed by stream id (``sid[r]`` for row ``r``),
    updated in place. A grid laid out by column (a batch of rounds) is walked in tiles of ``_TILE``
    columns, the rows of a tile in turn, as ``baseline_scan`` walks one."""
    rows = sid.shape[0]
    width = 0
    for r in range(rows):
        width = max(width, counts[r])
    tile = _TILE if xr < xc and rows > 1 else max(width, 1)
    for j0 in range(0, width, tile):
        for r in range(rows):
            c = min(counts[r], j0 + tile)
            if j0 >= c:
                continue
            s = sid[r]
            prev, rn, lg, nr = last[s], run[s], longest[s], n[s]
            limit = max(window, factor * lg)
            for j in range(j0, c):
                v = x[r * xr + j * xc]
                if abs(v - prev) <= tolerance:  # NaN (no reading yet) compares False
                    rn += 1
                else:  # the run ended: learned when below the limit, or in the warm-up
                    if rn > lg and (rn < limit or nr < warmup):
                        lg = rn
                        limit = max(window, factor * lg)
                    rn = 1
                out[r * o_r + j * o_c] = rn / limit if nr >= warmup else 0.0
                prev = v
                nr += 1
            last[s], run[s], longest[s], n[s] = prev, rn, lg, nr


_MAD_TO_SIGMA = 1.4826  # detectors.robust._MAD_TO_SIGMA


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _kth_dev(srt, m, med, k):  # pragma: no cover - compiled
    """The ``k``-th smallest (from 0) of ``|srt[i] - med|`` over the ``m`` sorted values ``srt``: the
    least, over the runs of ``k + 1`` neighbours, of the larger deviation at the run's two ends (as
    ``robust._median_mad``), the best run found by bisection."""
    # runs of k + 1 neighbours start at 0 .. m - k - 1; `right(i)`: the run at i has its bottom
    # further below med than its top is above it (monotone: true, then false)
    lo, hi = 0, m - k  # first start where right() is false, in [0, m - k]
    while lo < hi:
        mid = (lo + hi) >> 1
        if (med - srt[mid]) > (srt[mid + k] - med):
            lo = mid + 1
        else:
            hi = mid
    best = np.inf
    for s in (lo - 1, lo):
        if s >= 0 and s + k < m:
            d = max(abs(srt[s] - med), abs(srt[s + k] - med))
            if d < best:
                best = d
    return best


@njit(cache=True, nogil=True, error_model="numpy")
def robust_scan(
    sid,
    counts,
    x,
    xr,
    xc,
    out,
    o_r,
    o_c,
    hist,
    res,
    noise,
    min_periods,
    threshold,
    min_scale,
    direction,
    resolution_floor,
    noise_floor,
    alpha,
):  # pragma: no cover - compiled
    """detectors.robust.RobustZ over a grid, each stream in reading order: each reading against the
    median and MAD of the previous ``window`` readings (a sorted copy of the window, updated as it
    moves: the same order statistics as the numpy path, so the same bits), its standard deviation
    floored at the resolution (``res``: the smallest non-zero step so far) and ``noise_floor`` × the
    long-run noise (``noise``: exponentially weighted, weight ``alpha``, over the scored readings).
    ``direction``: 0 both, 1 up, 2 down. State indexed by stream id (``sid[r]`` for row ``r``):
    ``hist`` (the window, oldest first, NaN before a stream's first readings), ``res`` and ``noise``,
    updated in place. A grid laid out by column is walked in tiles of ``_TILE`` columns, the rows of
    a tile in turn, each row's sorted window kept between tiles.
    """
    rows = sid.shape[0]
    n = hist.shape[1]
    width = 0
    for r in range(rows):
        width = max(width, counts[r])
    tile = _TILE if xr < xc and rows > 1 else max(width, 1)
    srt = np.empty((rows, n))  # each row's window, sorted
    mm = np.zeros(rows, np.int64)
    keep = 1.0 - alpha
    for r in range(rows):
        s = sid[r]
        m = 0
        for i in range(n):
            v = hist[s, i]
            if not math.isnan(v):
                p = m
                while p > 0 and srt[r, p - 1] > v:
                    srt[r, p] = srt[r, p - 1]
                    p -= 1
                srt[r, p] = v
                m += 1
        mm[r] = m
    for j0 in range(0, width, tile):
        for r in range(rows):
            c = min(counts[r], j0 + tile)
            if j0 >= c:
                continue
            s = sid[r]
            m = mm[r]
            rs, nz = res[s], noise[s]
            w = srt[r]
            prev = hist[s, n - 1] if j0 == 0 else x[r * xr + (j0 - 1) * xc]
            for j in range(j0, c):
                v = x[r * xr + j * xc]
                step = abs(v - prev)
                if resolution_floor and step > 0 and step < rs:
                    rs = step
                score = 0.0
                if m >= min_periods:
                    lo_k, hi_k = (m - 1) >> 1, m >> 1
                    med = 0.5 * (w[lo_k] + w[hi_k])
                    d_lo = _kth_dev(w, m, med, lo_k)
                    d_hi = _kth_dev(w, m, med, hi_k) if hi_k > lo_k else d_lo
                    mad = 0.5 * (d_lo + d_hi)
                    sigma = mad * _MAD_TO_SIGMA
                    floor = max(resolution_floor * (rs if math.isfinite(rs) else 0.0), min_scale)
                    if noise_floor:
                        if math.isnan(nz):
                            nz = sigma
                        nz = nz * keep + sigma * alpha
                        floor = max(floor, noise_floor * nz)
                    z = (v - med) / max(sigma, floor)
                    if direction == 0:
                        z = abs(z)
                    elif direction == 2:
                        z = -z
                    score = max(z, 0.0) / threshold
                out[r * o_r + j * o_c] = score
                # the window moves on: the reading n back leaves, this one comes in
                old = hist[s, j] if j < n else x[r * xr + (j - n) * xc]
                if math.isnan(old):
                    p = m
                    m += 1
                else:  # find old, then shift towards it while placing v
                    a, b = 0, m - 1
                    while a < b:
                        mid = (a + b) >> 1
                        if w[mid] < old:
                            a = mid + 1
                        else:
                            b = mid
                    p = a
                # p: a free slot; move it to v's place
                while p > 0 and w[p - 1] > v:
                    w[p] = w[p - 1]
                    p -= 1
                while p < m - 1 and w[p + 1] < v:
                    w[p] = w[p + 1]
                    p += 1
                w[p] = v
                prev = v
            mm[r] = m
            res[s], noise[s] = rs, nz
    for r in range(rows):  # the trailing window of each stream
        s = sid[r]
        c = counts[r]
        if c >= n:
            for i in range(n):
                hist[s, i] = x[r * xr + (c - n + i) * xc]
        elif c:
            for i in range(n - c):
                hist[s, i] = hist[s, i + c]
            for i in range(c):
                hist[s, n - c + i] = x[r * xr + i * xc]
