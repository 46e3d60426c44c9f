"""Detection quality on the ADBench datasets, farout beside the usual anchors.

Protocol (docs/benchmarks.md):
1. Each ``*.npz`` in the data folder; more than 20,000 rows -> a stratified
   subsample of 20,000 (seed 0).
2. Seeds 0, 1, 2: stratified 70/30 split. Fit on the training part without
   labels (anomalies included), score the test part.
3. ROC-AUC and average precision per dataset, means over datasets (of the
   means over seeds), and total fit+score seconds.
4. Anchors with standardised features and library defaults: scikit-learn's
   IsolationForest and PyOD's CBLOF, KNN, ECOD, COPOD, HBOS (``pip install
   -e .[bench]``). farout scales its own input.

Run:  python benchmarks/adbench.py [--methods a,b,...] [--markdown out.md]
"""

import argparse
import glob
import json
import os
import sys
import time
import warnings
from datetime import date

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "datasets", "adbench"))

# farout configurations measured by name; "farout" is the library default.
# An "ensemble" entry holds BaggedKMeans parameters.
FAROUT_VARIANTS = {
    "farout": {},
    # the textbook recipe: k by silhouette over 2..10, one k-means
    "plain-distance": {"score_mode": "distance"},
    "plain-normalized": {"score_mode": "normalized"},
    # the ablation, one component at a time
    "single-k8": {"score_mode": "distance", "n_clusters": 8},
    "bag": {"ensemble": {"trim_rounds": 0, "variance_floor": None, "clean": 0.0}},
    "bag+trim": {"ensemble": {"variance_floor": None, "clean": 0.0}},
    "bag+trim+weights-25iter": {"ensemble": {"max_iter": 25, "clean": 0.0}},
    "bag10": {"ensemble": {"n_estimators": 10, "clean": 0.0}},
    # issue 17: ensembles over k and feature subspaces, member scores and
    # combination rules, one change at a time from the 0.2 default (no
    # consensus cleaning: clean=0), then cleaning, the default since 0.3
    "k-range-2-32": {"ensemble": {"n_clusters": [2, 32], "clean": 0.0}},
    "k-range-4-16": {"ensemble": {"n_clusters": [4, 16], "clean": 0.0}},
    "subspace-bagging": {"ensemble": {"max_features": "bagging", "clean": 0.0}},
    "subspace-half": {"ensemble": {"max_features": 0.5, "clean": 0.0}},
    "subspace-sqrt": {"ensemble": {"max_features": "sqrt", "clean": 0.0}},
    "local": {"ensemble": {"member_score": "local", "clean": 0.0}},
    "combine-max": {"ensemble": {"combine": "max", "clean": 0.0}},
    "combine-vote": {"ensemble": {"combine": "vote", "clean": 0.0}},
    "combine-rank-mean": {"ensemble": {"combine": "rank_mean", "clean": 0.0}},
    "combine-rank-max": {"ensemble": {"combine": "rank_max", "clean": 0.0}},
    "bag50": {"ensemble": {"n_estimators": 50, "clean": 0.0}},
    "k-range+subspace": {
        "ensemble": {"n_clusters": [2, 32], "max_features": "bagging", "clean": 0.0}
    },
    "local+rank-mean": {
        "ensemble": {"member_score": "local", "combine": "rank_mean", "clean": 0.0}
    },
    "clean-0": {"ensemble": {"clean": 0.0}},
    "clean-0.05": {"ensemble": {"clean": 0.05}},
    "clean-0.2": {"ensemble": {"clean": 0.2}},
    "clean-0.1+subspace": {"ensemble": {"clean": 0.1, "max_features": "bagging"}},
}


def _farout(params, seed):
    from farout import KMeansAnomalyDetector
    from farout.ensemble import BaggedKMeans

    params = dict(params)
    if "ensemble" in params:
        options = dict(params["ensemble"])
        if isinstance(options.get("n_clusters"), list):
            options["n_clusters"] = tuple(options["n_clusters"])
        params["ensemble"] = BaggedKMeans(**options)
    return KMeansAnomalyDetector(random_state=seed, **params)


def _anchor(name, seed):
    if name == "iforest":
        from sklearn.ensemble import IsolationForest

        return IsolationForest(random_state=seed)
    from pyod.models import cblof, copod, ecod, hbos, knn

    return {
        "cblof": lambda: cblof.CBLOF(random_state=seed),
        "knn": knn.KNN,
        "ecod": ecod.ECOD,
        "copod": copod.COPOD,
        "hbos": hbos.HBOS,
    }[name]()


ANCHORS = ("iforest", "cblof", "knn", "ecod", "copod", "hbos")


def fit_score(method, Xtr, Xte, seed, variants):
    """Test scores, higher = more anomalous."""
    if method in variants:
        det = _farout(variants[method], seed).fit(Xtr)
        return np.asarray(det.anomaly_score(Xte))
    scaler = StandardScaler().fit(Xtr)
    Ztr, Zte = scaler.transform(Xtr), scaler.transform(Xte)
    model = _anchor(method, seed).fit(Ztr)
    if method == "iforest":
        return -model.score_samples(Zte)
    return model.decision_function(Zte)


def load_dataset(path, max_rows):
    data = np.load(path, allow_pickle=False)
    X = np.asarray(data["X"], dtype=np.float64)
    y = np.asarray(data["y"]).astype(int).ravel()
    if len(y) > max_rows:
        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=0)
    return X, y


def run(methods, data_dir, seeds, max_rows, datasets=None, variants=FAROUT_VARIANTS):
    rows = []
    paths = sorted(glob.glob(os.path.join(data_dir, "*.npz")))
    if datasets:
        paths = [p for p in paths if any(d in os.path.basename(p) for d in datasets)]
    if not paths:
        sys.exit(f"no datasets found in {data_dir}")
    for path in paths:
        name = os.path.basename(path)[:-4]
        X, y = load_dataset(path, max_rows)
        for seed in seeds:
            Xtr, Xte, _, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
            for method in methods:
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scores = fit_score(method, Xtr, Xte, seed, variants)
                seconds = time.perf_counter() - start
                scores = np.nan_to_num(scores, nan=0.0, posinf=1e300, neginf=-1e300)
                rows.append(
                    {
                        "dataset": name,
                        "seed": seed,
                        "method": method,
                        "roc_auc": roc_auc_score(yte, scores),
                        "ap": average_precision_score(yte, scores),
                        "seconds": seconds,
                    }
                )
        done = pd.DataFrame(rows)
        last = done[done.dataset == name].groupby("method")["roc_auc"].mean()
        print(f"{name:<16}" + " ".join(f"{m}={last[m]:.3f}" for m in methods), flush=True)
    return pd.DataFrame(rows)


def summarise(results):
    per_dataset = results.groupby(["method", "dataset"])[["roc_auc", "ap"]].mean()
    summary = per_dataset.groupby("method").mean()
    summary["seconds"] = results.groupby("method")["seconds"].sum()
    summary["fits"] = results.groupby("method").size()
    return summary.sort_values("roc_auc", ascending=False), per_dataset


def to_markdown(summary, per_dataset, command):
    lines = [
        f"Command: `{command}`  ",
        f"Date: {date.today().isoformat()}",
        "",
        "| method | mean ROC-AUC | mean average precision | total seconds | fits |",
        "|---|---|---|---|---|",
    ]
    for method, row in summary.iterrows():
        lines.append(
            f"| {method} | {row.roc_auc:.3f} | {row.ap:.3f} | {row.seconds:.1f} | {int(row.fits)} |"
        )
    table = per_dataset["roc_auc"].unstack("method")[list(summary.index)]
    lines += ["", "ROC-AUC per dataset (mean of the seeds):", ""]
    lines.append("| dataset | " + " | ".join(table.columns) + " |")
    lines.append("|---" * (len(table.columns) + 1) + "|")
    for name, row in table.iterrows():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="farout," + ",".join(ANCHORS))
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="an extra farout configuration, e.g. 'k20={\"n_clusters\": 20}'",
    )
    parser.add_argument("--data-dir", default=DEFAULT_DATA)
    parser.add_argument("--datasets", help="comma-separated name fragments to keep")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--max-rows", type=int, default=20_000)
    parser.add_argument("--markdown", help="write the tables to this file")
    parser.add_argument("--csv", help="write every (dataset, seed, method) row to this file")
    args = parser.parse_args(argv)
    variants = dict(FAROUT_VARIANTS)
    for item in args.variant:
        name, _, spec = item.partition("=")
        variants[name] = json.loads(spec)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in variants and m not in ANCHORS]
    if unknown:
        sys.exit(f"unknown method(s) {unknown}; known: {sorted(variants) + list(ANCHORS)}")
    results = run(
        methods,
        args.data_dir,
        [int(s) for s in args.seeds.split(",")],
        args.max_rows,
        args.datasets.split(",") if args.datasets else None,
        variants,
    )
    summary, per_dataset = summarise(results)
    command = "python benchmarks/adbench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = to_markdown(summary, per_dataset, command.strip())
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(text)
    if args.csv:
        results.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
