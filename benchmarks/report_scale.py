"""How long `model_report` takes, and how big its page is, on a million rows.

Run:  python benchmarks/report_scale.py [--rows 1000000]
"""

import argparse
import time

from farout import KMeansAnomalyDetector
from farout.datasets import make_transactions
from farout.report import model_report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    data = make_transactions(args.rows, random_state=0)
    X = data.drop(columns=["is_fraud", "fraud_type"])
    start = time.perf_counter()
    detector = KMeansAnomalyDetector(random_state=0).fit(X)
    print(f"fit on {args.rows:,} rows: {time.perf_counter() - start:.1f} s")
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        page = model_report(detector, data, label="is_fraud", fp_cost=50, fn_cost=5000)
        times.append(time.perf_counter() - start)
    times.sort()
    print(
        f"report: median {times[len(times) // 2]:.1f} s of {args.repeats}, "
        f"{len(page) / 1024:.0f} KiB of HTML"
    )


if __name__ == "__main__":
    main()
