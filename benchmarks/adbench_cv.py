"""Choosing farout's default by leave-datasets-out cross-validation.

Reads the per-(dataset, seed, method) rows that ``benchmarks/adbench.py
--csv`` writes (one file, or several runs of the same protocol). The
datasets are split into ``--folds`` groups, ``--repeats`` times over; in
each split the candidate configuration with the best mean ROC-AUC on the
other groups is chosen, and measured on the held-out group. What is
reported is the held-out mean of that procedure, next to every candidate
and anchor on the same held-out datasets, how often each candidate was
chosen, and the wins, ties and losses per dataset of the chosen one
against every anchor (differences within 0.005 are ties).

A candidate that wins only because a constant was tuned to these datasets
is chosen on some folds and loses on the others; one whose reason holds
wins held out too.

Run:  python benchmarks/adbench_cv.py RESULTS.csv [MORE.csv ...]
          [--candidates farout,local,...] [--folds 3] [--repeats 50]
"""

import argparse
import sys

import numpy as np
import pandas as pd

ANCHORS = ("iforest", "cblof", "knn", "ecod", "copod", "hbos")
TIE = 0.005


def per_dataset(paths):
    rows = pd.concat([pd.read_csv(p) for p in paths])
    rows = rows.drop_duplicates(["dataset", "seed", "method"], keep="last")
    return rows.groupby(["method", "dataset"])[["roc_auc", "ap"]].mean()


def cross_validate(table, candidates, folds, repeats, seed=0):
    """(held-out means per method and for the procedure, times chosen)."""
    datasets = np.array(sorted(table.index.get_level_values("dataset").unique()))
    auc = table["roc_auc"].unstack("method")
    ap = table["ap"].unstack("method")
    rng = np.random.default_rng(seed)
    held = {"roc_auc": [], "ap": []}
    chosen = []
    for _ in range(repeats):
        order = rng.permutation(datasets)
        for group in np.array_split(order, folds):
            train = [d for d in datasets if d not in set(group)]
            best = auc.loc[train, candidates].mean().idxmax()
            chosen.append(best)
            for metric, frame in (("roc_auc", auc), ("ap", ap)):
                row = frame.loc[group].mean()
                row["chosen by CV"] = frame.loc[group, best].mean()
                held[metric].append(row)
    means = pd.DataFrame(
        {metric: pd.DataFrame(rows).mean() for metric, rows in held.items()}
    ).sort_values("roc_auc", ascending=False)
    return means, pd.Series(chosen).value_counts()


def wins_ties_losses(table, method, against):
    lines = []
    for metric in ("roc_auc", "ap"):
        frame = table[metric].unstack("method")
        for anchor in against:
            if anchor not in frame:
                continue
            diff = frame[method] - frame[anchor]
            lines.append(
                f"| {metric} | {anchor} | {(diff > TIE).sum()} | {(diff.abs() <= TIE).sum()} "
                f"| {(diff < -TIE).sum()} | {diff.idxmin()} ({diff.min():+.3f}) |"
            )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="+", help="adbench.py --csv output(s)")
    parser.add_argument("--candidates", help="farout methods to choose from (default: all)")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--reference", default="farout", help="the current default")
    args = parser.parse_args(argv)
    table = per_dataset(args.csv)
    methods = sorted(table.index.get_level_values("method").unique())
    candidates = (
        args.candidates.split(",") if args.candidates else [m for m in methods if m not in ANCHORS]
    )
    unknown = [c for c in candidates if c not in methods]
    if unknown:
        sys.exit(f"no results for {unknown}; the files hold {methods}")
    means, chosen = cross_validate(table, candidates, args.folds, args.repeats)
    whole = table.groupby("method").mean()
    best = whole.loc[candidates, "roc_auc"].idxmax()
    print(f"Command: `python benchmarks/adbench_cv.py {' '.join(argv or sys.argv[1:])}`\n")
    print(f"{args.folds}-fold leave-datasets-out, {args.repeats} random splits.\n")
    print(
        "| method | held-out mean ROC-AUC | held-out mean AP | mean ROC-AUC on all | mean AP on all |"
    )
    print("|---|---|---|---|---|")
    for method, row in means.iterrows():
        on_all = whole.loc[method] if method in whole.index else None
        tail = "| - | - |" if on_all is None else f"| {on_all.roc_auc:.3f} | {on_all.ap:.3f} |"
        print(f"| {method} | {row.roc_auc:.3f} | {row.ap:.3f} {tail}")
    print("\nTimes chosen (of every fold of every split):\n")
    for method, count in chosen.items():
        print(f"- {method}: {count}")
    print(f"\nChosen on all datasets: {best}. Per dataset against each anchor and the ")
    print(f"reference ({args.reference}); ties within {TIE}:\n")
    print("| metric | against | wins | ties | losses | worst dataset |")
    print("|---|---|---|---|---|---|")
    against = [a for a in (*ANCHORS, args.reference) if a != best]
    print("\n".join(wins_ties_losses(table, best, against)))


if __name__ == "__main__":
    main()
