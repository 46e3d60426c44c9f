"""The stream detector's prequential step, compiled, over a batch of rows:
each row scored by the model as it stood before it, then learned from, the
loop sequential as the step is (:mod:`farout.streaming.detector` describes
the step; this is the same arithmetic in the same order, to the last bit).

The loop runs the common rows: scaling, the nearest centre and the score,
the likelihood (:mod:`.likelihood`), the far-row run, forgetting, learning,
and the drift CUSUMs. It stops before a row that needs more, leaving the
state as that row found it, and says why (:data:`PYTHON_ROW`: a flag, a
cluster to open or retire, a drift reference to calibrate; :data:`TAILS`:
its likelihood needs a fitted tail), or after a row on which drift was
declared (:data:`DRIFTED`). The caller does that in Python, its reference,
and calls again from the next row (for :data:`TAILS`, from the same row
with its likelihood given).
"""

import numba
import numpy as np

from .likelihood import history_add, history_likelihood, history_usual
from .pairwise import pairwise_sum

__all__ = ["DONE", "DRIFTED", "PYTHON_ROW", "TAILS", "stream_rows"]

DONE, PYTHON_ROW, DRIFTED, TAILS = 0, 1, 2, 3

_MAX_SCORE = 1e100
_MIN_ROWS = 10
_SIGMA_FLOOR = 0.01
_SD_FLOOR = 1e-12


@numba.njit(cache=True, nogil=True)
def _scale(scaler, mean, m2, sd):
    weight = scaler[0]
    for f in range(sd.shape[0]):
        var = m2[f] / weight if weight > 0 else 0.0
        floor = _SD_FLOOR * max(1.0, abs(mean[f]))
        sd[f] = max(np.sqrt(max(var, 0.0)), floor)


@numba.njit(cache=True, nogil=True)
def stream_rows(
    X, raw, factors, cuts, start, given,
    size, sums, sumsq, dist_count, dist_mean, dist_m2, origin,
    scaler, scaler_mean, scaler_m2,
    ring, sorted_, means, highs, history_meta, short, q, scratch,
    run, counters, run_cut, likelihood_cut,
    drift_on, reference_rows, drift_meta, drift_mean, drift_sd, thresholds,
    stat, stat_sums, stat_counts, k_ref,
    scores, likelihoods, nearest,
):  # fmt: skip
    """Rows ``start:`` of ``X`` (the model's features; ``raw``: the input
    columns the drift tests watch), row i aged by ``factors[i]`` and its
    clusters retired below ``cuts[i]``; ``given``: the likelihood of row
    ``start`` when not NaN. ``counters``: rows seen, rows in the far run,
    warm-up rows, ``open_after``. ``drift_meta``: calibrated, reference
    rows held, reference size, rows seen. Returns ``(row, status)``."""
    n, p = X.shape
    k = size.shape[0]
    sd = np.empty(p)
    gaps = np.empty(p)
    distances = np.empty(k)
    xc = np.empty(p)
    m_raw = raw.shape[1]
    values = np.empty(3 * m_raw + 1)
    for i in range(start, n):
        n_seen, n_run, warmup, open_after = counters[0], counters[1], counters[2], counters[3]
        factor = factors[i]
        _scale(scaler, scaler_mean, scaler_m2, sd)
        for f in range(p):
            xc[f] = X[i, f] - origin[f]
        j = 0
        for c in range(k):
            for f in range(p):
                g = (xc[f] - sums[c, f] / size[c]) / sd[f]
                gaps[f] = g * g
            distances[c] = np.sqrt(pairwise_sum(gaps, 0, p))
            if distances[c] < distances[j]:
                j = c
        for f in range(p):
            mean = sums[j, f] / size[j]
            var = max(sumsq[j, f] / size[j] - mean * mean, 0.0)
            gaps[f] = var / (sd[f] * sd[f])
        spread = np.sqrt(pairwise_sum(gaps, 0, p))
        score = distances[j] / max(spread, _SIGMA_FLOOR)
        if n_seen < _MIN_ROWS:
            score = 0.0
        score = min(score, _MAX_SCORE) if np.isfinite(score) else _MAX_SCORE
        n_history = history_meta[1]
        if i == start and given == given:
            likelihood = given
        else:
            spike, part, _, _, _, _ = history_likelihood(
                ring, sorted_, means, highs, history_meta, short, q, score, scratch
            )
            if spike != spike or part != part:
                scores[i] = score
                return i, TAILS
            likelihood = spike if part == -np.inf else (part if part > spike else spike)
        warm = n_seen < warmup
        if not warm and likelihood >= likelihood_cut:
            return i, PYTHON_ROW  # flagged: its severity and reason
        far = False
        cut = 0.0
        if not warm and n_history >= 2:
            cut = run_cut[0] if n_run > 0 else history_usual(sorted_, n_history, q)
            far = score > cut
        if far and n_run + 1 >= open_after:
            return i, PYTHON_ROW  # the run opens a cluster
        if k > 1:
            for c in range(k):
                after = size[c] * factor + (1.0 if (c == j and not far) else 0.0)
                if after < cuts[i]:
                    return i, PYTHON_ROW  # a cluster retires
        if drift_on and drift_meta[0] == 0 and drift_meta[1] + 1 >= drift_meta[2]:
            return i, PYTHON_ROW  # the drift reference is complete: calibrate it
        # ---- the row is the compiled loop's: learn from it
        if far and n_run == 0:
            run_cut[0] = cut
        if n_seen >= _MIN_ROWS:
            history_add(ring, sorted_, means, highs, history_meta, short, score)
        for c in range(k):
            size[c] = size[c] * factor
            for f in range(p):
                sums[c, f] = sums[c, f] * factor
                sumsq[c, f] = sumsq[c, f] * factor
            dist_count[c] = dist_count[c] * factor
            dist_m2[c] = dist_m2[c] * factor
        scaler[0] = scaler[0] * factor
        for f in range(p):
            scaler_m2[f] = scaler_m2[f] * factor
        if far:
            for f in range(p):
                run[n_run, f] = X[i, f]
            counters[1] = n_run + 1
        else:
            counters[1] = 0
            old = scaler[0]
            weight = old + 1.0
            scaler[0] = weight
            for f in range(p):
                delta = X[i, f] - scaler_mean[f]
                scaler_mean[f] = scaler_mean[f] + delta / weight
                scaler_m2[f] = scaler_m2[f] + delta * delta * (old / weight)
            # ClusterStats.merge with the row's block (count 1 at cluster j)
            for c in range(k):
                n_b = 1.0 if c == j else 0.0
                mean_b = distances[j] if c == j else 0.0
                size[c] = size[c] + n_b
                for f in range(p):
                    if c == j:
                        sums[c, f] = sums[c, f] + (0.0 + xc[f])
                        sumsq[c, f] = sumsq[c, f] + (0.0 + xc[f] * xc[f])
                    else:
                        sums[c, f] = sums[c, f] + 0.0
                        sumsq[c, f] = sumsq[c, f] + 0.0
                n_a = dist_count[c]
                total = n_a + n_b
                delta = mean_b - dist_mean[c]
                safe = total if total > 0 else 1.0
                dist_mean[c] = dist_mean[c] + delta * n_b / safe
                dist_m2[c] = dist_m2[c] + 0.0 + delta * delta * n_a * n_b / safe
                dist_count[c] = total
        counters[0] = n_seen + 1
        scores[i] = score
        likelihoods[i] = likelihood
        nearest[i] = j
        if drift_on:
            drift_meta[3] += 1
            if drift_meta[0] == 0:
                held = drift_meta[1]
                for f in range(m_raw):
                    reference_rows[held, f] = raw[i, f]
                reference_rows[held, m_raw] = score
                drift_meta[1] = held + 1
                continue
            for f in range(m_raw + 1):
                z = ((raw[i, f] if f < m_raw else score) - drift_mean[f]) / drift_sd[f]
                if f < m_raw:
                    values[3 * f], values[3 * f + 1], values[3 * f + 2] = z, -z, abs(z)
                else:
                    values[3 * m_raw] = z
            alarm = False
            for d in range(values.shape[0]):
                new = max(0.0, stat[d] + values[d] - k_ref[d])
                if stat[d] <= 0.0:
                    stat_sums[d], stat_counts[d] = values[d], 1.0
                else:
                    stat_sums[d], stat_counts[d] = stat_sums[d] + values[d], stat_counts[d] + 1.0
                stat[d] = new
                alarm = alarm or new > thresholds[d]
            if alarm:
                return i, DRIFTED
    return n, DONE
