"""The stream detector's outputs on generated streams, to compare two
versions of the code: run it under each (PYTHONPATH), then ``--compare``.
Every output column of every case must be identical.

Cases: regime changes, spikes, drift (a mean shift and a doubled sd), a
time half-life, windowed features, few clusters (merges and retirements),
a refresh policy, batches of several sizes, one row at a time, and a
checkpoint resumed mid-stream.

Run:  PYTHONPATH=/old/src python benchmarks/stream_same.py --out old.pkl
      PYTHONPATH=src python benchmarks/stream_same.py --out new.pkl
      python benchmarks/stream_same.py --compare old.pkl new.pkl
"""

import argparse
import os
import pickle
import tempfile

import numpy as np
import pandas as pd


def _frame(n, p, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, p)) * rng.uniform(0.5, 3, p) + rng.uniform(-50, 50, p)
    X[n // 4 :, 0] += 6.0  # a regime change
    X[n // 2 :, p - 1] *= 2.0  # a doubled spread
    X[3 * n // 4 :] += np.linspace(0, 5, n - 3 * n // 4)[:, None]  # slow drift
    spikes = rng.choice(n, n // 300, replace=False)
    X[spikes] += rng.normal(0, 15, (len(spikes), p))
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(p)])
    frame.index = pd.date_range("2026-01-01", periods=n, freq="min") + pd.to_timedelta(
        np.cumsum(rng.integers(0, 90, n)), unit="s"
    )
    return frame


def cases():
    from farout.features import WindowFeatures
    from farout.streaming import DriftMonitor, StreamDetector

    yield "default_p1", StreamDetector, {}, _frame(12_000, 1, 0), 1000
    yield "default_p4", StreamDetector, {}, _frame(8000, 4, 1), 1000
    yield "p16", StreamDetector, {}, _frame(6000, 16, 2), 777
    yield "hl500_few", StreamDetector, dict(half_life=500, max_clusters=3), _frame(8000, 2, 3), 1
    yield "time_hl", StreamDetector, dict(half_life="2h"), _frame(6000, 3, 4), 250
    yield (
        "features",
        StreamDetector,
        dict(features=WindowFeatures(lags=(1, 3), rolling=(5,), diff=True, deviation=(4,))),
        _frame(4000, 2, 5),
        333,
    )
    yield (
        "refresh_small",
        StreamDetector,
        dict(
            drift=DriftMonitor(ert=1000, reference=200, policy="refresh"),
            window=300,
            short=5,
            q=0.95,
            warmup=30,
            open_after=5,
        ),
        _frame(6000, 2, 6),
        100,
    )
    yield "no_drift_short1", StreamDetector, dict(drift=False, short=1), _frame(5000, 2, 7), 5000
    yield "short15", StreamDetector, dict(short=15, window=500), _frame(3000, 2, 8), 500


def run():
    from farout import load

    out = {}
    for name, cls, params, frame, size in cases():
        det = cls(**params)
        parts = []
        for i in range(0, len(frame), size):
            parts.append(det.process(frame.iloc[i : i + size]))
        out[name] = pd.concat(parts)
        # a checkpoint in the middle, resumed
        det = cls(**params)
        half = len(frame) // 2 + 7
        head = det.process(frame.iloc[:half])
        with tempfile.TemporaryDirectory() as folder:
            det.save(os.path.join(folder, "s.farout"))
            tail = load(os.path.join(folder, "s.farout")).process(frame.iloc[half:])
        out[name + "_resumed"] = pd.concat([head, tail])
    # one row at a time, by dict
    from farout.streaming import StreamDetector

    det = StreamDetector()
    frame = _frame(3000, 2, 9).reset_index(drop=True)
    out["dicts"] = pd.concat([det.process(dict(row)) for _, row in frame.iterrows()])
    return out


def compare(a, b):
    bad = 0
    for name in a:
        try:
            pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
            flags = int(a[name]["is_anomaly"].sum()), int(a[name]["drift"].sum())
            print(f"{name}: identical ({len(a[name])} rows, {flags[0]} flagged, {flags[1]} drift)")
        except AssertionError as exc:
            bad += 1
            print(f"{name}: DIFFERENT {str(exc)[:300]}")
    return bad


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out")
    parser.add_argument("--compare", nargs=2)
    args = parser.parse_args()
    if args.compare:
        loaded = [pickle.load(open(path, "rb")) for path in args.compare]
        raise SystemExit(compare(*loaded))
    with open(args.out, "wb") as handle:
        pickle.dump(run(), handle)
