"""Do two versions of farout give the same numbers? Dump what one version
computes on the ADBench datasets, then compare two dumps array by array.

Run each version in turn (a worktree of the other commit on PYTHONPATH),
then compare:

    git worktree add /tmp/old ea714c3
    PYTHONPATH=/tmp/old/src python benchmarks/same_numbers.py dump /tmp/old.npz
    python benchmarks/same_numbers.py dump /tmp/new.npz
    python benchmarks/same_numbers.py compare /tmp/old.npz /tmp/new.npz

Each dataset's first 6,000 rows, six configurations (every metric and
score mode, trimming, tiers); for each: scores, flags, decision function,
clusters, severities and reasons of ``detect``, the numbers of ``explain``,
and the scores after ``partial_fit`` on the last 1,000 rows. Only API that
farout 0.2 already had is used.
"""

import argparse
import glob
import os
import sys

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "datasets", "adbench")


def configs():
    from farout.thresholds import Percentile

    tiers = {"warn": Percentile(90), "crit": Percentile(99)}
    return {
        "default": dict(random_state=0),
        "normalized": dict(score_mode="normalized", random_state=0),
        "manhattan": dict(metric="manhattan", score_mode="normalized", random_state=0),
        "cosine": dict(metric="cosine", random_state=0),
        "mahalanobis": dict(metric="mahalanobis", score_mode="normalized", random_state=0),
        "k5-trim-tiers": dict(n_clusters=5, trim=0.02, tiers=tiers, random_state=0),
    }


def dump(out_path, data_dir):
    import farout

    print(f"farout {farout.__version__} from {os.path.dirname(farout.__file__)}", file=sys.stderr)
    out = {}
    for path in sorted(glob.glob(os.path.join(data_dir, "*.npz"))):
        name = os.path.splitext(os.path.basename(path))[0]
        with np.load(path, allow_pickle=False) as data:
            X = np.asarray(data["X"][:6000], dtype=np.float64)
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
        for config, params in configs().items():
            key = f"{name}|{config}"
            try:
                det = farout.KMeansAnomalyDetector(**params).fit(frame)
                found = det.detect(frame, reasons="all")
                out[f"{key}|score"] = det.anomaly_score(frame).to_numpy()
                out[f"{key}|predict"] = det.predict(frame)
                out[f"{key}|decision"] = np.asarray(det.decision_function(frame))
                out[f"{key}|cluster"] = found["cluster"].to_numpy()
                out[f"{key}|severity"] = found["severity"].fillna("").to_numpy(dtype=str)
                out[f"{key}|reason"] = found["reason"].to_numpy(dtype=str)
                out[f"{key}|explain"] = det.explain(frame).select_dtypes("number").to_numpy()
                det.partial_fit(frame.iloc[-1000:])
                out[f"{key}|score-after-partial-fit"] = det.anomaly_score(frame).to_numpy()
            except Exception as exc:  # a refusal is an outcome to compare too
                out[f"{key}|error"] = np.array([f"{type(exc).__name__}: {exc}"])
        print(f"{name}: done", file=sys.stderr, flush=True)
    np.savez(out_path, **out)
    print(f"{len(out)} arrays written to {out_path}")


def compare(a_path, b_path):
    with np.load(a_path) as a, np.load(b_path) as b:
        keys_a, keys_b = set(a.files), set(b.files)
        differ = []
        for key in sorted(keys_a & keys_b):
            x, y = a[key], b[key]
            same = x.dtype == y.dtype and x.shape == y.shape
            if same:
                nan = x.dtype.kind == "f"
                same = np.array_equal(x, y, equal_nan=nan)
            if not same:
                differ.append(key)
                if x.dtype.kind == "f" and x.shape == y.shape:
                    print(f"differs: {key} (max abs diff {np.nanmax(np.abs(x - y)):.3g})")
                else:
                    print(f"differs: {key}")
    for key in sorted(keys_a ^ keys_b):
        print(f"only in {'the first' if key in keys_a else 'the second'}: {key}")
    print(
        f"{len(keys_a & keys_b)} arrays compared, {len(differ)} differ, "
        f"{len(keys_a ^ keys_b)} in one dump only"
    )
    return 1 if differ or keys_a ^ keys_b else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dump", help="compute and save this version's numbers")
    p.add_argument("out")
    p.add_argument("--data-dir", default=DEFAULT_DATA)
    p = sub.add_parser("compare", help="compare two dumps array by array")
    p.add_argument("a")
    p.add_argument("b")
    args = parser.parse_args(argv)
    if args.command == "dump":
        dump(args.out, args.data_dir)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
