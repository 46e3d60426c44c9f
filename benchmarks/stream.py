"""Files larger than memory: `farout fit` and `farout score` on a generated
file, timed and with peak memory from /usr/bin/time -v; and a streamed fit
(sample + refinement passes) against an in-memory fit on a file that fits.

Data: 16 float32 columns of Gaussian blobs (8 clusters) with 0.5% planted
anomalies, and a ``label`` column (1 = planted) that the model never sees.

Run:  python benchmarks/stream.py [--rows 50000000] [--dir /tmp/farout-stream]
"""

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

COLUMNS = [f"f{j}" for j in range(16)]


def generate(rows, csv_path, parquet_path, seed=0, chunk=1_000_000):
    """Write the same rows as CSV and Parquet (either path may be None), a
    chunk at a time."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, size=(8, 16))
    schema = pa.schema([(c, pa.float32()) for c in COLUMNS] + [("label", pa.int8())])
    with contextlib.ExitStack() as stack:
        writers = []
        if csv_path:
            writers.append(stack.enter_context(pa_csv.CSVWriter(csv_path, schema)))
        if parquet_path:
            writers.append(stack.enter_context(pq.ParquetWriter(parquet_path, schema)))
        for start in range(0, rows, chunk):
            m = min(chunk, rows - start)
            X = centres[rng.integers(0, 8, m)] + rng.standard_normal((m, 16))
            label = rng.random(m) < 0.005
            X[label] = rng.uniform(-25, 25, size=(int(label.sum()), 16))
            table = pa.table(
                {c: X[:, j].astype(np.float32) for j, c in enumerate(COLUMNS)}
                | {"label": label.astype(np.int8)},
                schema=schema,
            )
            for writer in writers:
                writer.write_table(table)


def timed(command):
    """Run ``command`` under /usr/bin/time -v: (seconds, peak RSS MiB, stdout)."""
    start = time.perf_counter()
    out = subprocess.run(
        ["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    return seconds, rss_kb / 1024, out.stdout.strip()


def _agreement(a, b):
    """Correlation of two score vectors, and the share of the top 1% of rows
    by ``a`` that are also in the top 1% by ``b``."""
    top_a = a > np.quantile(a, 0.99)
    top_b = b > np.quantile(b, 0.99)
    return float(np.corrcoef(a, b)[0, 1]), float((top_a & top_b).sum() / top_a.sum())


def compare_fits(folder, rows, sample_rows, farout, seeds=(0, 1, 2)):
    """A file that fits: the streamed fit (sample + one refinement pass)
    against the in-memory fit, on the planted labels, for several seeds, so
    that the agreement comes with its spread between seeds."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from farout import load

    csv_path = os.path.join(folder, f"fits-{rows}.csv")
    generate(rows, csv_path, os.path.join(folder, f"fits-{rows}.parquet"), seed=1)
    table = pq.read_table(os.path.join(folder, f"fits-{rows}.parquet")).to_pandas()
    y, X = table.pop("label").to_numpy(), table
    result = {}
    for seed in seeds:
        for name, sample in (("in_memory", rows + 1), ("streamed", sample_rows)):
            model = os.path.join(folder, f"{name}-{seed}.farout")
            seconds, rss, _ = timed(
                [farout, "fit", csv_path, "-o", model, "--exclude", "label", "-q"]
                + ["--sample-rows", str(sample), "--random-state", str(seed)]
            )
            det = load(model)
            scores = det.anomaly_score(X).to_numpy()
            result[name, seed] = {
                "fit_seconds": seconds,
                "peak_rss_mib": rss,
                "roc_auc": roc_auc_score(y, scores),
                "average_precision": average_precision_score(y, scores),
                "flagged": int((det.predict(X) == -1).sum()),
                "scores": scores,
                "centres": det.cluster_centers_,
            }
    summary = {"rows": rows, "sample_rows": sample_rows, "seeds": list(seeds)}
    for (name, seed), v in result.items():
        summary.update({f"{k}_{name}_{seed}": v[k] for k in v if k not in ("scores", "centres")})
    # the same seed, streamed against in memory; and each kind against itself
    # under another seed, for scale
    for seed in seeds:
        corr, top = _agreement(
            result["in_memory", seed]["scores"], result["streamed", seed]["scores"]
        )
        summary[f"same_seed_{seed}"] = {"correlation": corr, "top1pct_overlap": top}
    for name in ("in_memory", "streamed"):
        for other in seeds[1:]:
            corr, top = _agreement(result[name, seeds[0]]["scores"], result[name, other]["scores"])
            summary[f"{name}_seed_{seeds[0]}_vs_{other}"] = {
                "correlation": corr,
                "top1pct_overlap": top,
            }
    a, b = result["in_memory", seeds[0]], result["streamed", seeds[0]]
    if a["centres"].shape == b["centres"].shape:
        from scipy.optimize import linear_sum_assignment
        from scipy.spatial.distance import cdist

        cost = cdist(a["centres"], b["centres"])
        rows_, cols = linear_sum_assignment(cost)
        summary["max_centre_shift_scaled"] = float(cost[rows_, cols].max())
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--dir", default="/tmp/farout-stream")
    parser.add_argument("--compare-rows", type=int, default=2_000_000)
    parser.add_argument("--sample-rows", type=int, default=200_000)
    parser.add_argument("--formats", default="csv,parquet", help="files to generate and score")
    parser.add_argument("--no-compare", action="store_true", help="skip the in-memory comparison")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    farout = os.path.join(os.path.dirname(sys.executable), "farout")
    big_csv = os.path.join(args.dir, "big.csv")
    big_pq = os.path.join(args.dir, "big.parquet")
    model = os.path.join(args.dir, "big.farout")
    fig = {"rows": args.rows}

    formats = args.formats.split(",")
    start = time.perf_counter()
    generate(
        args.rows, big_csv if "csv" in formats else None, big_pq if "parquet" in formats else None
    )
    fig["generate_seconds"] = time.perf_counter() - start
    runs = {}
    for fmt, path in (("csv", big_csv), ("parquet", big_pq)):
        if fmt not in formats:
            continue
        fig[f"{fmt}_gb"] = os.path.getsize(path) / 1e9
        if not runs:  # the first format fits the model
            runs[f"fit_{fmt}"] = [farout, "fit", path, "-o", model, "--exclude", "label", "-q"]
        out = f"{path}.out.{fmt}"
        runs[f"score_{fmt}"] = [farout, "score", path, "-m", model, "-o", out, "-q"]
        runs[f"score_{fmt}"] += ["--chunksize", "262144"] if fmt == "parquet" else []
    for name, command in runs.items():
        seconds, rss, stdout = timed(command)
        fig[f"{name}_seconds"] = seconds
        fig[f"{name}_rows_per_s"] = args.rows / seconds
        fig[f"{name}_peak_rss_mib"] = rss
        print(
            f"{name}: {seconds:.1f} s, {args.rows / seconds / 1e6:.2f} M rows/s, "
            f"peak RSS {rss:.0f} MiB  {stdout[:200]}",
            flush=True,
        )
    if not args.keep:
        for path in (big_csv, big_pq, big_csv + ".out.csv", big_pq + ".out.parquet"):
            if os.path.exists(path):
                os.remove(path)
    if not args.no_compare:
        fig["compare"] = compare_fits(args.dir, args.compare_rows, args.sample_rows, farout)

    print(f"# stream, {args.rows:,} rows x 16 float32, {date.today().isoformat()}")
    print(json.dumps(fig, indent=2, default=float))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(fig, handle, indent=2, default=float)


if __name__ == "__main__":
    main()
