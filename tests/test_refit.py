"""The refit drift policy (issue 12, part 3): after a drift event a model
learned afresh on the rows that follow, swapped in once its scores pass the
check; one row at a time, in batches and across a checkpoint the same."""

import numpy as np
import pandas as pd
import pytest

from farout.cli import main
from farout.exceptions import InputError
from farout.streaming import DriftMonitor, StreamDetector
from farout.streaming.refit import Refit


def _shifted(n=3000, at=1500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, 3))
    X[at:, 0] += 3.0
    X[at:, 1] *= 2.0
    return pd.DataFrame(X, columns=["a", "b", "c"])


def _refitting(reference=300):
    return StreamDetector(drift=DriftMonitor(reference=reference, policy="refit"))


def test_a_refit_is_swapped_in_after_its_window_and_checked():
    frame = _shifted()
    out = _refitting().process(frame)
    drift = np.flatnonzero(out["drift"])
    assert len(drift) >= 1 and 1500 <= drift[0] < 1600
    assert "refitting on the next 300 rows" in out["reason"].iloc[drift[0]]
    swapped = np.flatnonzero(out["reason"].str.contains("swapped in"))
    assert swapped[0] == drift[0] + 300  # the window's last row
    text = out["reason"].iloc[swapped[0]]
    assert f"refit on rows {drift[0] + 1}-{drift[0] + 300} swapped in (median score" in text
    # the new model's clusters have new ids, and it scores the new normal
    after = out["cluster"].iloc[swapped[0] + 1 :]
    assert (after > out["cluster"].iloc[: drift[0]].max()).all()
    alert = StreamDetector(drift=DriftMonitor(reference=300, policy="alert")).process(frame)
    assert (
        alert["anomaly_score"].iloc[: swapped[0] + 1] == out["anomaly_score"].iloc[: swapped[0] + 1]
    ).all()


def test_a_refit_gives_the_same_one_row_at_a_time_in_batches_and_across_a_checkpoint(tmp_path):
    frame = _shifted(2400)
    whole = _refitting().process(frame)
    assert whole["reason"].str.contains("swapped in").any()
    for size in (1, 137, 1000):
        det = _refitting()
        parts = [det.process(frame.iloc[i : i + size]) for i in range(0, len(frame), size)]
        pd.testing.assert_frame_equal(pd.concat(parts), whole)
    det = _refitting()
    start = int(np.flatnonzero(whole["drift"])[0]) + 100  # mid-refit
    head = det.process(frame.iloc[:start])
    assert det.refit_ is not None and det.refit_.seen == 99
    det.save(tmp_path / "s.farout")
    rest = StreamDetector.load(tmp_path / "s.farout").process(frame.iloc[start:])
    pd.testing.assert_frame_equal(pd.concat([head, rest]), whole)


def test_a_candidate_that_fails_the_check_is_not_swapped_in():
    def refit(own, old, flags):
        r = Refit(StreamDetector(), 10, 500)
        r.own, r.old, r.flags = np.array(own, float), np.array(old, float), np.array(flags)
        r.seen = 10
        return r.verdict()

    calm, busy = [False] * 10, [False] * 9 + [True]
    assert refit([1.0] * 10, [2.0] * 10, calm) == (
        True,
        "refit on rows 500-509 swapped in (median score 2 -> 1, 0.0% flagged)",
    )
    swap, text = refit([3.0] * 10, [2.0] * 10, calm)
    assert not swap and "scores the recent rows higher" in text
    swap, text = refit([1.0] * 10, [2.0] * 10, busy)
    assert not swap and "flags too many rows" in text and "20.0% flagged" in text
    swap, text = refit([1.0] * 9 + [np.inf], [2.0] * 10, calm)
    assert not swap and "not finite" in text


def test_the_drift_policy_from_the_command_line(tmp_path, capsys):
    _shifted(6000, at=3000).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "o.csv"
    assert main(["stream", str(tmp_path / "m.csv"), "-o", str(out), "--drift-policy", "refit"]) == 0
    want = StreamDetector(drift=DriftMonitor(policy="refit")).process(_shifted(6000, at=3000))
    got = pd.read_csv(out)
    np.testing.assert_array_equal(got["anomaly_score"], want["anomaly_score"])
    assert got["reason"].fillna("").str.contains("swapped in").sum() == 1
    capsys.readouterr()
    with pytest.raises(SystemExit):  # argparse's own refusal, exit 2
        main(["stream", str(tmp_path / "m.csv"), "--drift-policy", "retrain"])
    assert "invalid choice: 'retrain'" in capsys.readouterr().err
    with pytest.raises(InputError, match="policy must be one of alert, refresh, refit"):
        DriftMonitor(policy="retrain")
