"""farout on Dask at scale: fit time, score throughput and peak memory per
worker, 1 worker against 2, the overhead against the in-memory fit and
score, and dask-ml's KMeans at the same k in the same run.

Run on demand (not in the tests); needs ``pip install "farout[dask]" dask-ml``:

    python benchmarks/dask_scale.py --rows 2000000
    python benchmarks/dask_scale.py --rows 100000000 --skip-memory --skip-dask-ml

The data (``--rows`` x 16 float32, 8 Gaussian clusters and 0.1% scattered
anomalies) is generated on the workers, block by block from the block's
number, so every run and every worker count sees the same rows; a Parquet
folder of the same rows is written (``--parquet``) and scored from disk.
Each measurement starts a fresh LocalCluster (one thread per worker
process), so a worker's peak RSS is that measurement's.
"""

import argparse
import os
import resource
import shutil
import tempfile
import time

import numpy as np

K = 8
FEATURES = 16


def _block(block_info=None):
    """Rows of one block, from its number alone (the same on any worker)."""
    info = block_info[None]
    (start, stop), _ = info["array-location"]
    index = info["chunk-location"][0]
    rng = np.random.default_rng([2024, index])
    centres = np.random.default_rng(7).normal(0, 6, (K, FEATURES))
    n = stop - start
    X = centres[rng.integers(0, K, n)] + rng.normal(0, 1, (n, FEATURES))
    far = rng.random(n) < 0.001
    X[far] += rng.normal(0, 15, (int(far.sum()), FEATURES))
    return X.astype(np.float32)


def generated(rows, chunk):
    import dask.array as da

    chunks = ((chunk,) * (rows // chunk) + ((rows % chunk,) if rows % chunk else ()), (FEATURES,))
    return da.map_blocks(_block, dtype=np.float32, chunks=chunks, meta=np.empty((0, 0), np.float32))


def frame_of(X):
    import dask.dataframe as dd

    return dd.from_dask_array(X, columns=[f"f{j:02d}" for j in range(FEATURES)])


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Cluster:
    """A fresh LocalCluster of ``workers`` processes, one thread each."""

    def __init__(self, workers):
        from distributed import Client, LocalCluster

        self.cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            memory_limit=None,
        )
        self.client = Client(self.cluster)
        self._warm_up()

    def _warm_up(self):
        """Compile the kernels in every worker (numba, per process) before
        anything is timed."""
        from farout.distributed import fit_dask, score_dask

        small = frame_of(generated(4_000, 1_000))
        model = fit_dask(detector(K), small)
        score_dask(model, small, reasons="none")["anomaly_score"].sum().compute()

    def peak_mb(self):
        return sorted(self.client.run(_peak_rss_mb).values())

    def close(self):
        self.client.close()
        self.cluster.close()


def detector(k):
    from farout import KMeansAnomalyDetector

    return KMeansAnomalyDetector(n_clusters=k, random_state=0)


def measure_dask(rows, chunk, workers, parquet=None, passes=0):
    """Fit and score on a fresh cluster; the scores are reduced (their sum
    and the flag count) so that the client does not hold every row."""
    import dask

    from farout.distributed import ParallelPostFit, fit_dask, score_dask

    cluster = Cluster(workers)
    try:
        ddf = frame_of(generated(rows, chunk))
        if parquet is not None:
            import dask.dataframe as dd

            ddf = dd.read_parquet(parquet)
        started = time.perf_counter()
        model = fit_dask(detector(K), ddf, passes=passes)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        scored = score_dask(model, ddf, reasons="none")
        # one pass over the data for both sums
        total, flagged = dask.compute(scored["anomaly_score"].sum(), scored["is_anomaly"].sum())
        score_s = time.perf_counter() - started
        started = time.perf_counter()
        ParallelPostFit(model).anomaly_score(ddf).sum().compute()
        kernel_s = time.perf_counter() - started
        return {
            "workers": workers,
            "rows": rows,
            "source": "parquet" if parquet else "generated",
            "passes": passes,
            "fit_s": fit_s,
            "score_s": score_s,
            "score_rows_per_s": rows / score_s,
            "kernel_s": kernel_s,
            "flagged": int(flagged),
            "score_sum": float(total),
            "peak_mb": cluster.peak_mb(),
            "model": model,
        }
    finally:
        cluster.close()


def measure_memory(rows, chunk, passes=0):
    """The in-memory fit and score of the same rows (computed on one
    worker process first, then held here)."""
    cluster = Cluster(1)
    try:
        X = generated(rows, chunk).compute()
    finally:
        cluster.close()
    detector(K).fit(X[:4_000]).anomaly_score(X[:4_000])  # the kernels compiled here too
    started = time.perf_counter()
    model = detector(K).fit(X)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    scores = model.detect(X, reasons="none")["anomaly_score"]
    score_s = time.perf_counter() - started
    started = time.perf_counter()
    model.anomaly_score(X)
    kernel_s = time.perf_counter() - started
    return {
        "fit_s": fit_s,
        "score_s": score_s,
        "kernel_s": kernel_s,
        "model": model,
        "score_sum": float(scores.sum()),
    }


def inertia_of(centres, Z):
    """Sum of squared distances of every row of Dask Array ``Z`` to its
    nearest centre."""
    from farout._kernels.distance import nearest_centers

    def block(b):
        _, d = nearest_centers(np.asarray(b, np.float64), centres, "euclidean")
        return np.array([float(d @ d)])

    return float(Z.map_blocks(block, drop_axis=1, chunks=(1,), dtype=float).sum().compute())


def measure_dask_ml(rows, chunk, model, workers=2, restarts=1):
    """dask-ml's KMeans at the same k on the rows farout's model encodes
    (standard-scaled), and both sets of centres' inertia over every row.

    With ``restarts`` > 1, dask-ml is fitted again with seeds 1, 2, ...
    until one fit's inertia is within 1% of farout's (k-means|| can stop in
    a poor local optimum; restarts are what a user would do, as n_init
    does): the time to equal inertia is the sum over the fits it took."""
    from dask_ml.cluster import KMeans

    cluster = Cluster(workers)
    try:
        enc = model.encoder_
        Z = ((generated(rows, chunk) - enc.center_) / enc.scale_).astype(np.float64)
        Z = Z.persist()
        farout_inertia = inertia_of(model.cluster_centers_, Z)
        fits = []
        for seed in range(restarts):
            started = time.perf_counter()
            km = KMeans(n_clusters=K, random_state=seed).fit(Z)
            fit_s = time.perf_counter() - started
            inertia = inertia_of(np.asarray(km.cluster_centers_), Z)
            fits.append({"seed": seed, "fit_s": fit_s, "inertia": inertia})
            print(
                f"  dask-ml seed {seed}: fit {fit_s:.2f} s, inertia {inertia:.6g} "
                f"({inertia / farout_inertia - 1:+.2%} against farout's)",
                flush=True,
            )
            if inertia <= 1.01 * farout_inertia:
                break
        return {
            "fit_s": fits[0]["fit_s"],
            "inertia": fits[0]["inertia"],
            "farout_inertia": farout_inertia,
            "fits": fits,
            "equal": fits[-1]["inertia"] <= 1.01 * farout_inertia,
            "time_to_equal_s": sum(f["fit_s"] for f in fits),
        }
    finally:
        cluster.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk", type=int, default=250_000, help="rows per partition")
    parser.add_argument("--parquet", help="folder for the Parquet copy (default: a temporary one)")
    parser.add_argument("--skip-memory", action="store_true", help="no in-memory comparison")
    parser.add_argument("--skip-dask-ml", action="store_true")
    parser.add_argument(
        "--dask-ml-restarts",
        type=int,
        default=1,
        help="refit dask-ml with new seeds until its inertia is within 1%% of farout's",
    )
    parser.add_argument("--only-dask-ml", action="store_true", help="fit farout, then dask-ml")
    parser.add_argument("--skip-parquet", action="store_true")
    args = parser.parse_args()
    print(
        f"rows {args.rows:,} x {FEATURES} float32, partitions of {args.chunk:,}, k={K}, "
        f"{os.cpu_count()} cores"
    )

    def show(label, r):
        print(
            f"{label:<34} fit {r['fit_s']:7.2f} s   score {r['score_s']:7.2f} s "
            f"({r['score_rows_per_s'] / 1e6:5.2f} M rows/s; anomaly_score alone "
            f"{r['rows'] / r['kernel_s'] / 1e6:5.2f} M rows/s)   peak RSS per worker "
            f"{', '.join(f'{m:.0f}' for m in r['peak_mb'])} MB"
        )

    two = measure_dask(args.rows, args.chunk, 2)
    show("dask, 2 workers, generated", two)
    if args.only_dask_ml:
        _report_dask_ml(args, two, None)
        return
    one = measure_dask(args.rows, args.chunk, 1)
    show("dask, 1 worker, generated", one)
    print(
        f"scaling: score throughput 2 workers / 1 worker = "
        f"{two['score_rows_per_s'] / one['score_rows_per_s']:.2f}x, fit {one['fit_s'] / two['fit_s']:.2f}x"
    )
    refined = measure_dask(args.rows, args.chunk, 2, passes=1)
    show("dask, 2 workers, passes=1", refined)
    if not args.skip_parquet:
        folder = args.parquet or tempfile.mkdtemp(prefix="farout-dask-bench-")
        try:
            cluster = Cluster(2)
            try:
                started = time.perf_counter()
                frame_of(generated(args.rows, args.chunk)).to_parquet(folder, write_index=False)
                print(f"parquet folder written in {time.perf_counter() - started:.2f} s")
            finally:
                cluster.close()
            show("dask, 2 workers, parquet", measure_dask(args.rows, args.chunk, 2, parquet=folder))
        finally:
            if args.parquet is None:
                shutil.rmtree(folder, ignore_errors=True)
    if not args.skip_memory:
        mem = measure_memory(args.rows, args.chunk)
        same = np.allclose(
            mem["model"].cluster_centers_, two["model"].cluster_centers_, rtol=1e-9, atol=1e-12
        )
        print(
            f"{'in memory (this process)':<34} fit {mem['fit_s']:7.2f} s   score {mem['score_s']:7.2f} s "
            f"({args.rows / mem['score_s'] / 1e6:5.2f} M rows/s; anomaly_score alone "
            f"{args.rows / mem['kernel_s'] / 1e6:5.2f} M rows/s)   peak RSS {_peak_rss_mb():.0f} MB; "
            f"same centres as Dask: {same}; score sums {mem['score_sum']:.6f} / {two['score_sum']:.6f}"
        )
        print(
            f"overhead: Dask fit / in-memory fit = {two['fit_s'] / mem['fit_s']:.2f}x, "
            f"Dask detect / in-memory detect = {two['score_s'] / mem['score_s']:.2f}x, "
            f"anomaly_score {two['kernel_s'] / mem['kernel_s']:.2f}x (the Dask times include "
            "generating the rows on the workers)"
        )
    if not args.skip_dask_ml:
        _report_dask_ml(args, two, refined)


def _report_dask_ml(args, two, refined):
    ml = measure_dask_ml(args.rows, args.chunk, two["model"], restarts=args.dask_ml_restarts)
    if args.dask_ml_restarts > 1:
        print(
            f"dask-ml to within 1% of farout's inertia: {'reached' if ml['equal'] else 'NOT reached'} "
            f"after {len(ml['fits'])} fit(s), {ml['time_to_equal_s']:.2f} s in all; farout "
            f"passes=0 fit {two['fit_s']:.2f} s: dask-ml / farout = "
            f"{ml['time_to_equal_s'] / two['fit_s']:.2f}x"
        )
    if refined is not None:
        far_inertia = inertia_of_cluster(args, refined["model"])
        print(
            f"dask-ml KMeans (k={K}, 2 workers): fit {ml['fit_s']:.2f} s, inertia "
            f"{ml['inertia']:.6g}; farout passes=0: fit {two['fit_s']:.2f} s, inertia "
            f"{ml['farout_inertia']:.6g} ({ml['farout_inertia'] / ml['inertia'] - 1:+.2%}); "
            f"farout passes=1: fit {refined['fit_s']:.2f} s, inertia {far_inertia:.6g} "
            f"({far_inertia / ml['inertia'] - 1:+.2%}); dask-ml fit / farout fit = "
            f"{ml['fit_s'] / two['fit_s']:.2f}x (passes=0), "
            f"{ml['fit_s'] / refined['fit_s']:.2f}x (passes=1)"
        )


def inertia_of_cluster(args, model):
    cluster = Cluster(2)
    try:
        enc = model.encoder_
        Z = ((generated(args.rows, args.chunk) - enc.center_) / enc.scale_).astype(np.float64)
        return inertia_of(model.cluster_centers_, Z)
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
