"""The stream detector's compiled kernels against their references, and its
outputs pinned to those of the plain-NumPy code it replaced (computed by
that code, at commit 81615bd), so no later change can move a number."""

import hashlib
from collections import deque

import numpy as np
import pandas as pd
import pytest

from farout._kernels.cusum import cusum_alarms, cusum_alarms_reference
from farout._kernels.likelihood import (
    finish_likelihood,
    history_add,
    history_likelihood,
    history_scores,
    likelihood_reference,
)
from farout._kernels.pairwise import pairwise_sum
from farout.features import WindowFeatures
from farout.streaming import DriftMonitor, ScoreHistory, StreamDetector


@pytest.mark.parametrize("n", [*range(0, 40), 127, 128, 129, 255, 256, 257, 1991, 2000, 5003])
def test_pairwise_sum_is_numpys_sum_to_the_last_bit(n):
    rng = np.random.default_rng(n)
    for scale in (1e-3, 1.0, 1e6):
        a = rng.exponential(scale, n + 5)
        assert pairwise_sum(a, 3, n) == a[3 : 3 + n].sum()
    rows = rng.normal(size=(4, n)) ** 2
    assert [pairwise_sum(r.copy(), 0, n) for r in rows] == list(rows.sum(axis=1))


@pytest.mark.parametrize(
    "window, short, q", [(2000, 10, 0.99), (50, 10, 0.99), (300, 3, 0.9), (100, 1, 0.99),
                         (64, 11, 0.5), (30, 2, 0.999)]
)  # fmt: skip
def test_the_compiled_likelihood_is_the_references_to_the_last_bit(window, short, q):
    rng = np.random.default_rng(window + short)
    x = rng.exponential(1.0, 3000)
    x[rng.choice(3000, 40, replace=False)] *= 20  # spikes: the fitted tails
    x[1000:1100] = x[1000]  # ties
    x[2000:2300] = 0.0  # a base at 0
    state = [np.zeros(window) for _ in range(4)] + [np.zeros(2, dtype=np.int64)]
    scratch = np.zeros(window)
    recent = deque(maxlen=window)
    for s in map(float, x):
        parts = history_likelihood(*state, short, q, s, scratch)
        got = finish_likelihood(parts, lambda: history_scores(state[0], state[4]),
                                scratch[: parts[5]], q, s)  # fmt: skip
        assert got == likelihood_reference(np.array(recent), short, q, s)
        history_add(*state, short, s)
        recent.append(s)
    assert list(history_scores(state[0], state[4])) == list(recent)


def test_a_history_longer_than_the_compiled_stretches_uses_the_reference():
    history = ScoreHistory(100, 15, 0.99, np.random.default_rng(0).exponential(1, 300))
    assert history.likelihood(2.0) == likelihood_reference(history.scores(), 15, 0.99, 2.0)


def test_cusum_alarms_side_by_side_equal_one_threshold_at_a_time():
    rng = np.random.default_rng(0)
    hs = np.geomspace(0.5, 200.0, 40)
    for k in (0.0, 0.5, 1.2):
        z = rng.standard_normal(5000) * 2
        np.testing.assert_array_equal(cusum_alarms(z, k, hs), cusum_alarms_reference(z, k, hs))


def _frame(n, p, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, p)) + np.arange(p) * 10.0
    X[n // 3 :, 0] += 6.0
    X[2 * n // 3 :, p - 1] *= 2.0
    X[rng.choice(n, n // 200, replace=False)] += 12.0
    return pd.DataFrame(X, columns=[f"c{j}" for j in range(p)])


def _digest(out):
    h = hashlib.sha256()
    for name in out.columns:
        column = out[name]
        if column.dtype == object:
            h.update("|".join(map(str, column)).encode())
        else:
            h.update(np.asarray(column).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(
    "name, params, frame, expected",
    [
        ("default", {}, (6000, 2, 0), ("46fdb660ea5e8e7f", 8, 2, 5827.405366086705)),
        (
            "few_clusters",
            dict(half_life=300, max_clusters=2, open_after=5),
            (5000, 3, 1),
            ("a6ee0d5bf3633057", 6, 2, 4964.651136277305),
        ),
        (
            "features_refresh",
            dict(
                features=WindowFeatures(lags=(1,), rolling=(4,)),
                drift=DriftMonitor(ert=1000, reference=300, policy="refresh"),
                window=400,
            ),
            (4000, 1, 2),
            ("9d1fc6c741f16b96", 14, 2, 5161.236330370256),
        ),
    ],
)
def test_outputs_are_those_of_the_numpy_step_to_the_last_bit(name, params, frame, expected):
    # every column of every row, hashed; computed by the per-row NumPy code
    # that the compiled step replaced
    out = StreamDetector(**params).process(_frame(*frame))
    got = (_digest(out), int(out["is_anomaly"].sum()), int(out["drift"].sum()))
    assert (*got, float(out["anomaly_score"].sum())) == expected
