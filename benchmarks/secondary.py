"""Does the secondary check cut false positives? (ADBench protocol)

For each dataset and seed (the protocol of benchmarks/adbench.py), farout's
default detector with threshold Percentile(95) flags test rows; then
SecondaryCheck keeps only those its checker (Isolation Forest or LOF) also
finds unusual. The fair comparison is farout alone at the same, lower alert
rate: its own top-m test rows, m = the number the check kept. If the check
does not beat that, raising the threshold does the same job more simply.

Run:  python benchmarks/secondary.py [--datasets a,b] [--seeds 0,1,2]
"""

import argparse
import glob
import os
import sys
import warnings
from datetime import date

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adbench import DEFAULT_DATA, load_dataset  # noqa: E402

from farout import KMeansAnomalyDetector  # noqa: E402
from farout.secondary import SecondaryCheck  # noqa: E402
from farout.thresholds import Percentile  # noqa: E402


def _pr(truth, flags):
    tp = int((truth & flags).sum())
    return (tp / flags.sum() if flags.any() else np.nan, tp / truth.sum(), flags.mean())


def run(data_dir, seeds, datasets=None):
    rows = []
    paths = sorted(glob.glob(os.path.join(data_dir, "*.npz")))
    if datasets:
        paths = [p for p in paths if any(d in os.path.basename(p) for d in datasets)]
    for path in paths:
        name = os.path.basename(path)[:-4]
        X, y = load_dataset(path, 20_000)
        for seed in seeds:
            Xtr, Xte, _, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
            truth = yte == 1
            detector = KMeansAnomalyDetector(threshold=Percentile(95), random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for checker in ("iforest", "lof"):
                    check = SecondaryCheck(detector, checker=checker, random_state=seed).fit(Xtr)
                    table = check.detect(Xte, reasons="none")
                    primary = table["flagged_by_farout"].to_numpy()
                    confirmed = table["is_anomaly"].to_numpy()
                    matched = np.zeros(len(truth), dtype=bool)
                    m = int(confirmed.sum())
                    order = np.argsort(-table["anomaly_score"].to_numpy(), kind="stable")
                    matched[order[:m]] = True
                    for setting, flags in (
                        ("farout", primary),
                        (f"+{checker} check", confirmed),
                        (f"farout at the {checker} check's rate", matched),
                    ):
                        p, r, rate = _pr(truth, flags)
                        rows.append(
                            {
                                "dataset": name,
                                "seed": seed,
                                "checker": checker,
                                "setting": setting,
                                "precision": p,
                                "recall": r,
                                "alert_rate": rate,
                            }
                        )
        print(name, flush=True)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA)
    parser.add_argument("--datasets")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--csv")
    args = parser.parse_args(argv)
    results = run(
        args.data_dir,
        [int(s) for s in args.seeds.split(",")],
        args.datasets.split(",") if args.datasets else None,
    )
    if args.csv:
        results.to_csv(args.csv, index=False)
    per = results.groupby(["setting", "dataset"])[["precision", "recall", "alert_rate"]].mean()
    summary = per.groupby("setting").mean()
    print(f"Date: {date.today().isoformat()}\n")
    print(summary.to_markdown(floatfmt=".3f") if hasattr(summary, "to_markdown") else summary)
    for checker in ("iforest", "lof"):
        wide = per["precision"].unstack("setting")
        better = wide[f"+{checker} check"] - wide[f"farout at the {checker} check's rate"]
        print(
            f"\n{checker}: check beats the matched-rate threshold on precision in "
            f"{int((better > 0.005).sum())} datasets, ties {int((better.abs() <= 0.005).sum())}, "
            f"loses {int((better < -0.005).sum())}; helped most: "
            + ", ".join(f"{k} ({v:+.3f})" for k, v in better.sort_values().tail(3).items())
        )


if __name__ == "__main__":
    main()
