"""Speed of fitting and scoring, beside scikit-learn and faiss, and against
the machine's own limits. Every figure is the median of ``--repeats`` runs.

Needs the bench extra (faiss-cpu among it):  pip install -e ".[bench]"
Run:  python benchmarks/speed.py [--rows 2000000] [--dims 32] [--k 16]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date

import numpy as np


def median_time(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def blobs(n, d, k, seed=0, chunk=200_000):
    """Gaussian blobs, float32, generated in chunks so that making the data
    does not set the process's peak memory."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, size=(k, d)).astype(np.float32)
    X = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        X[start:stop] = centres[rng.integers(0, k, stop - start)]
        X[start:stop] += rng.standard_normal((stop - start, d), dtype=np.float32)
    return X


def machine_limits(repeats):
    a = np.random.default_rng(0).standard_normal((4096, 4096), dtype=np.float32)
    t, _ = median_time(lambda: a @ a, repeats)
    gflops = 2 * 4096**3 / t / 1e9
    src = np.ones(256 * 2**20 // 4, dtype=np.float32)
    dst = np.zeros_like(src)  # touched, so page faults are not timed
    np.copyto(dst, src)
    t, _ = median_time(lambda: np.copyto(dst, src), max(repeats, 3))
    bandwidth = 2 * src.nbytes / t / 1e9  # read + write
    return gflops, bandwidth


def inertia(X, C):
    """Sum of squared distances to the nearest centre, in float64."""
    from farout._kernels.distance import nearest_centers_numpy

    _, d = nearest_centers_numpy(np.asarray(X, np.float64), np.asarray(C, np.float64), "euclidean")
    return float(np.dot(d, d))


def peak_rss_of_scoring(rows, dims, k, score_mode):
    """Peak resident memory (MiB) of a fresh process: after building the
    data and fitting on a sample, and after scoring every row. Read from
    VmHWM in /proc (a new process starts its own high-water mark)."""
    code = f"""
import sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from speed import blobs, vm_hwm_mib
from farout import KMeansAnomalyDetector
X = blobs({rows}, {dims}, {k})
det = KMeansAnomalyDetector({k}, score_mode={score_mode!r}, random_state=0).fit(X[:100000])
det.anomaly_score(X[:100000])  # compiled kernels loaded
base = vm_hwm_mib()
det.anomaly_score(X)
print(base, vm_hwm_mib(), X.nbytes / 2**20)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.split()]


def vm_hwm_mib():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--dims", type=int, default=32)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    import faiss
    from sklearn.cluster import KMeans
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import pairwise_distances_argmin_min

    from farout import KMeansAnomalyDetector
    from farout._kernels.distance import nearest_centers, nearest_centers_numpy, nearest_scores
    from farout._kernels.kmeans import as_generator, kmeans

    n, d, k, r = args.rows, args.dims, args.k, args.repeats
    X = blobs(n, d, k)
    fig = {}
    gflops, bandwidth = machine_limits(r)
    roofline = max(2 * n * d * k / (gflops * 1e9), n * d * 4 / (bandwidth * 1e9))
    fig.update(gemm_gflops=gflops, copy_gb_s=bandwidth, roofline_scoring_s=roofline)

    # fit, fixed k, the same iteration budget (tol 0: stop only when no label changes)
    t, (C, *_rest, n_iter) = median_time(
        lambda: kmeans(X, k, "euclidean", as_generator(0), 1, args.iters, 0.0), r
    )
    fig.update(fit_farout_s=t, inertia_farout=inertia(X, C), iters_farout=n_iter)
    t, km = median_time(
        lambda: KMeans(k, n_init=1, max_iter=args.iters, tol=0.0, random_state=0).fit(X), r
    )
    fig.update(fit_sklearn_s=t, inertia_sklearn=inertia(X, km.cluster_centers_))
    fig["iters_sklearn"] = km.n_iter_
    t, fk = median_time(lambda: _faiss_fit(faiss, X, k, args.iters), r)
    fig.update(fit_faiss_s=t, inertia_faiss=inertia(X, fk.centroids))

    # scoring every row: nearest centroid and the anomaly score
    C64 = km.cluster_centers_.astype(np.float64)
    C32 = C64.astype(np.float32)
    sigma = np.random.default_rng(0).uniform(1.0, 2.0, k)

    # Outputs are allocated once for every contender: fresh pages cost this
    # machine about 0.3 ms per MiB, which would otherwise dominate.
    labels_out, dist_out = np.empty(n, dtype=np.intp), np.empty(n)
    score_out = np.empty(n)
    faiss_d, faiss_i = np.empty((n, 1), dtype=np.float32), np.empty((n, 1), dtype=np.int64)

    det = KMeansAnomalyDetector(k, score_mode="normalized", random_state=0).fit(X[:100_000])
    det.anomaly_score(X[:1000])
    # the public path the kernel is measured against: distance scores
    plain = KMeansAnomalyDetector(k, score_mode="distance", random_state=0).fit(X[:100_000])
    plain.score_samples(X[:1000])
    index = faiss.IndexFlatL2(d)
    index.add(C32)
    contenders = {
        "score_farout_kernel_s": lambda: nearest_scores(
            X, C64, sigma + 1e-9, out=(labels_out, dist_out, score_out)
        ),
        "score_farout_detector_s": lambda: det.anomaly_score(X),
        "score_farout_public_s": lambda: plain.score_samples(X),
        "score_sklearn_s": lambda: pairwise_distances_argmin_min(X, C32),
        "score_faiss_s": lambda: index.search(X, 1, D=faiss_d, I=faiss_i),
    }
    # Rounds that run every contender in turn, so that a noisy spell or a
    # library's idle threads spinning after its call hit all of them alike.
    times = {name: [] for name in contenders}
    for _ in range(max(r, 7)):
        for name, run in contenders.items():
            times[name].append(median_time(run, 1)[0])
    fig.update({name: float(np.median(t)) for name, t in times.items()})
    # exactness: farout's distances against a float64 reference on 200,000 rows
    part = X[:: max(1, n // 200_000)]
    got_labels, got = nearest_centers(part, C64, "euclidean")
    ref_labels, ref = nearest_centers_numpy(part.astype(np.float64), C64, "euclidean")
    same = got_labels == ref_labels
    fig["score_same_centre_fraction"] = float(same.mean())
    fig["score_max_relative_error"] = float(np.max(np.abs(got[same] - ref[same]) / ref[same]))

    def farout_end_to_end():
        return KMeansAnomalyDetector(random_state=0).fit(X).anomaly_score(X)

    def iforest_end_to_end():
        return IsolationForest(random_state=0).fit(X).score_samples(X)

    fig["end_to_end_farout_s"], _ = median_time(farout_end_to_end, r)
    fig["end_to_end_iforest_s"], _ = median_time(iforest_end_to_end, r)
    for mode in ("normalized", "ensemble"):
        base, peak, size = peak_rss_of_scoring(n, d, k, mode)
        fig.update(
            {
                f"rss_{mode}_after_fit_mib": base,
                f"rss_{mode}_peak_scoring_mib": peak,
                "input_mib": size,
            }
        )

    print(
        f"# speed, {n:,} x {d} float32, k={k}, {date.today().isoformat()}, "
        f"peak RSS self {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    for key, value in fig.items():
        print(f"{key:<32} {value:,.4g}")
    ratios = {
        "scoring: faiss / farout kernel": fig["score_faiss_s"] / fig["score_farout_kernel_s"],
        "scoring: sklearn / farout kernel": fig["score_sklearn_s"] / fig["score_farout_kernel_s"],
        "scoring: faiss / farout detector": fig["score_faiss_s"] / fig["score_farout_detector_s"],
        "scoring: sklearn / farout detector": fig["score_sklearn_s"]
        / fig["score_farout_detector_s"],
        "scoring: score_samples (distance) / kernel": fig["score_farout_public_s"]
        / fig["score_farout_kernel_s"],
        "scoring: faiss / score_samples (distance)": fig["score_faiss_s"]
        / fig["score_farout_public_s"],
        "scoring: sklearn / score_samples (distance)": fig["score_sklearn_s"]
        / fig["score_farout_public_s"],
        "scoring: farout kernel / roofline": fig["score_farout_kernel_s"] / roofline,
        "fit: farout / sklearn": fig["fit_farout_s"] / fig["fit_sklearn_s"],
        "fit: inertia farout / sklearn": fig["inertia_farout"] / fig["inertia_sklearn"],
        "end to end: farout / iforest": fig["end_to_end_farout_s"] / fig["end_to_end_iforest_s"],
    }
    for key, value in ratios.items():
        print(f"{key:<40} {value:.3g}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({**fig, **ratios}, handle, indent=2)


def _faiss_fit(faiss, X, k, iters):
    model = faiss.Kmeans(X.shape[1], k, niter=iters, seed=0, verbose=False)
    model.train(X)
    return model


if __name__ == "__main__":
    main()
