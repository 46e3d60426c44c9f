"""Drift (issue 12, part 3): CUSUM tests whose false alarms are set by an
expected run length, events that name what moved, and their place in the
stream detector."""

import numpy as np
import pandas as pd
import pytest

from farout import InputError, load
from farout._kernels.cusum import cusum_alarms, cusum_alarms_reference
from farout.streaming import DriftMonitor, StreamDetector

NAMES = ["a", "b", "c", "d"]


def _run(monitor, X, scores):
    return [
        (i, text)
        for i, (x, s) in enumerate(zip(X, scores, strict=True))
        if (text := monitor.step(x, s, NAMES)[1])
    ]


def test_the_kernel_counts_alarms_as_the_reference_does():
    z = np.random.default_rng(0).normal(0.1, 1, 5000)
    hs = np.linspace(0.5, 12, 9)
    np.testing.assert_array_equal(cusum_alarms(z, 0.5, hs), cusum_alarms_reference(z, 0.5, hs))


def test_false_alarms_stay_within_the_expected_run_length():
    # a small ert, so that a stable stream of 12 ert rows tests it
    rng = np.random.default_rng(1)
    X, scores = rng.standard_t(8, size=(60_000, 4)), np.abs(rng.normal(size=60_000))
    events = _run(DriftMonitor(ert=5_000, reference=500), X, scores)
    assert len(events) <= 60_000 / 5_000


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_one_sd_shift_is_caught_fast_and_named(seed):
    rng = np.random.default_rng(seed)
    X, scores = rng.normal(size=(12_000, 4)), np.abs(rng.normal(size=12_000))
    X[10_000:, 1] += 1.0
    events = _run(DriftMonitor(), X, scores)
    after = [(i, t) for i, t in events if i >= 10_000]
    assert after and after[0][0] - 10_000 <= 300
    assert "b mean +" in after[0][1]


def test_a_doubled_spread_is_caught_and_named():
    rng = np.random.default_rng(3)
    X, scores = rng.normal(size=(6_000, 4)), np.abs(rng.normal(size=6_000))
    X[4_000:, 2] *= 2.0
    after = [(i, t) for i, t in _run(DriftMonitor(), X, scores) if i >= 4_000]
    assert after and after[0][0] - 4_000 <= 1_000
    assert "c sd x" in after[0][1]


def test_the_stream_marks_drift_and_says_what_moved(tmp_path):
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(rng.normal(size=(5_000, 2)) * [3, 5] + [40, 60], columns=["cpu", "mem"])
    frame.iloc[3_500:, 1] += 5.0  # one standard deviation
    whole = StreamDetector(drift=DriftMonitor(policy="refresh")).process(frame)
    rows = np.flatnonzero(whole["drift"].to_numpy())
    assert rows.size and 3_500 <= rows[0] <= 3_800
    assert "drift: mem mean +" in whole["reason"].iloc[rows[0]]
    # resuming mid-monitoring gives the same
    first = StreamDetector(drift=DriftMonitor(policy="refresh"))
    head = first.process(frame.iloc[:2_600])
    first.save(tmp_path / "s.farout")
    tail = load(tmp_path / "s.farout").process(frame.iloc[2_600:])
    pd.testing.assert_frame_equal(pd.concat([head, tail]), whole)
    assert not StreamDetector(drift=False).process(frame.iloc[:500])["drift"].any()


@pytest.mark.parametrize(
    "params",
    [{"ert": 10}, {"reference": 50}, {"shift": 0}, {"policy": "page"}],
)
def test_bad_drift_parameters_are_named(params):
    with pytest.raises(InputError, match=next(iter(params))):
        DriftMonitor(**params)


def test_a_batch_with_a_drift_event_gives_what_its_rows_give_one_at_a_time():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(1_800, 2)), columns=["x", "y"])
    frame.iloc[1_000:, 0] += 1.5

    def make():
        return StreamDetector(drift=DriftMonitor(reference=300, policy="refresh"))

    batch = make().process(frame)
    assert batch["drift"].any()
    one = make()
    rows = pd.concat([one.process(frame.iloc[[i]]) for i in range(len(frame))])
    pd.testing.assert_frame_equal(rows, batch)
