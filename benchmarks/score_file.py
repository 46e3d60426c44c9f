"""`farout.jobs.score_file` in one process on a generated file: rows per second from
CSV and Parquet with the default model, the median of several runs after the
compiled kernels are loaded (no start-up cost), and optionally through the
general pandas path for comparison.

Run:  python benchmarks/score_file.py [--rows 2000000] [--repeats 5] [--general]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from stream import COLUMNS, generate  # noqa: E402  (the same data as stream.py)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--general", action="store_true", help="also time the general path")
    args = parser.parse_args(argv)

    import pandas as pd

    import farout.jobs.scoring as batch
    from farout import KMeansAnomalyDetector

    folder = tempfile.mkdtemp(prefix="farout-score-file-")
    csv_path, pq_path = os.path.join(folder, "in.csv"), os.path.join(folder, "in.parquet")
    generate(args.rows, csv_path, pq_path, seed=1)
    detector = KMeansAnomalyDetector(random_state=0).fit(pd.read_parquet(pq_path)[COLUMNS])

    paths = {"fast": (batch._numeric_plan, batch._score_arrow)}
    if args.general:
        paths["general"] = (lambda *a: None, lambda *a: None)
    for name, (plan, arrow) in paths.items():
        batch._numeric_plan, batch._score_arrow = plan, arrow
        for src in (csv_path, pq_path):
            out = os.path.join(folder, "out" + os.path.splitext(src)[1])
            times = []
            for _ in range(args.repeats + 1):  # the first run loads the kernels
                if os.path.exists(out):
                    os.remove(out)
                start = time.perf_counter()
                batch.score_file(detector, src, out, progress=False)
                times.append(time.perf_counter() - start)
            median = statistics.median(times[1:])
            print(
                f"{name:8s} {os.path.basename(src):11s} median {median:.2f} s "
                f"= {args.rows / median / 1e6:.2f} M rows/s  "
                f"(runs: {', '.join(f'{t:.2f}' for t in times[1:])})",
                flush=True,
            )
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    os.rmdir(folder)


if __name__ == "__main__":
    main()
