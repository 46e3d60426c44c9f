"""What a retraining costs (``farout retrain``), step by step, beside a
plain fit of the same rows measured in the same run.

For each window size N: N generated payments (the tests' generator) are
written to a fresh SQLite prediction log (``predictions.record``, as the
service logs them), then, ``--repeat`` times:

- ``collect``: the window read back from the log (inputs parsed, verdicts
  joined), ``service.retraining.collect``;
- ``retrain``: the audit, the fit with the champion's parameters and the
  evaluation of both models on the held-out quarter,
  ``retraining.retrain_detector``;
- the peer, ``fit``: ``clone(champion).fit`` on the same 75% of the rows.

Prints the median seconds of each, and the job's overhead over the fit.

Run:  nice -n 10 python benchmarks/retrain.py [--sizes 10000,100000] [--repeat 5]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid

import orjson

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from servers import payments  # noqa: E402

import farout as fo  # noqa: E402
from farout.retraining import Window, retrain_detector  # noqa: E402
from farout.service.database import Database, default_url  # noqa: E402
from farout.service.predictions import record  # noqa: E402
from farout.service.retraining import collect  # noqa: E402


def _log(db, frame):
    """One request per row, each a hundredth of a second after the last."""
    now = time.time() - 86400
    entries = []
    for i, row in enumerate(frame.to_dict("records")):
        request = (uuid.uuid4().hex, now + i * 0.01, "payments", 1, "champion", False, 0.1)
        row_values = (uuid.uuid4().hex, 0, orjson.dumps(row).decode(), 1.0, 2.0, False, None, "", 0)
        entries.append((request, [[v] for v in row_values]))
    with db.writing() as connection:
        for start in range(0, len(entries), 20_000):
            record(connection, entries[start : start + 20_000])
    return now - 1


def _median(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _size(n, champion, repeat):
    """Median seconds of collect, retrain and the peer fit on ``n`` logged rows."""
    from sklearn.base import clone

    with tempfile.TemporaryDirectory() as folder:
        db = Database(default_url(folder))
        db.upgrade()
        since = _log(db, payments(n, 1))
        t_collect, window = _median(lambda: collect(db, champion, "payments", since), repeat)
        t_retrain, done = _median(lambda: retrain_detector(champion, window, None), repeat)
        train = window.frame.iloc[: done.rows["fitted"]]
        t_fit, _ = _median(lambda: clone(champion).fit(train), repeat)
        db.close()
    assert isinstance(window, Window) and done.rows["fitted"] == round(0.75 * n)
    return t_collect, t_retrain, t_fit


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    champion = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(payments(5_000, 0))
    print(f"{'rows':>8} {'collect s':>10} {'retrain s':>10} {'fit s':>8} {'retrain/fit':>12}")
    for n in map(int, args.sizes.split(",")):
        t_collect, t_retrain, t_fit = _size(n, champion, args.repeat)
        print(
            f"{n:>8,} {t_collect:>10.3f} {t_retrain:>10.3f} {t_fit:>8.3f} {t_retrain / t_fit:>12.2f}"
        )


if __name__ == "__main__":
    main()
