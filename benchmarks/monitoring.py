"""How long ``GET /v1/monitoring`` takes on a full range, against ``GET
/v1/feedback/summary`` (which reads the same log) timed in the same run.

It registers a model fitted on generated payments, logs ``--rows`` rows
(1,000 a request, the last 30% of them with a shifted amount, so that
drift is found), then times each route ``--repeats`` times over one-hour windows and
reports the median and the range, in seconds.

    nice -n 10 python benchmarks/monitoring.py --rows 200000 --repeats 5

SQLite, in a temporary registry; the server is stopped by its PID.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from servers import Server, make_key, payments  # noqa: E402

import farout as fo  # noqa: E402
from farout.client import Client  # noqa: E402
from farout.thresholds import Percentile  # noqa: E402


def _timed(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tiers = {"low": Percentile(95), "high": Percentile(99.5)}
        det = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0, tiers=tiers)
        model = det.fit(payments(20_000, 0)).save(tmp / "payments.farout")
        key = make_key(tmp / "registry")
        server = Server(tmp / "registry", None, "-q").start()
        try:
            client = Client(server.url, key, timeout=600)
            client.upload(model)
            for i in range(args.rows // 1000):
                block = payments(1000, 1 + i)
                if i >= 0.7 * (args.rows // 1000):
                    block["amount"] *= 1.8
                client.score(block)
            found = client.monitoring(window="1h")
            assert found["rows"] == args.rows, found["rows"]
            monitoring = _timed(lambda: client.monitoring(window="1h"), args.repeats)
            summary = _timed(lambda: client.feedback_summary(), args.repeats)
        finally:
            server.stop()
    print(f"rows logged: {args.rows:,}; drifted: {found['drifted_features']}")
    for name, (median, low, high) in (
        ("GET /v1/monitoring?window=1h", monitoring),
        ("GET /v1/feedback/summary", summary),
    ):
        print(f"{name:32s} median {median:.2f} s (min {low:.2f}, max {high:.2f})")


if __name__ == "__main__":
    main()
