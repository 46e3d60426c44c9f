"""The ADBench protocol again with the detectors' own seeds moved: how much
of a difference between two farout configurations is the draw of their
members. Every configuration gets ``random_state = split seed + offset``
(the splits stay those of benchmarks/adbench.py).

Run:  python benchmarks/adbench_seeds.py [--methods farout,clean-0] [--offsets 10,20,30]
"""

import argparse
import os
import sys

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adbench  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="farout,clean-0")
    parser.add_argument("--offsets", default="10,20,30")
    parser.add_argument("--csv", help="write every row to this file")
    args = parser.parse_args(argv)
    fit = adbench._farout
    runs = []
    for offset in (int(o) for o in args.offsets.split(",")):
        adbench._farout = lambda params, seed, o=offset: fit(params, seed + o)
        run = adbench.run(args.methods.split(","), adbench.DEFAULT_DATA, [0, 1, 2], 20_000)
        run["offset"] = offset
        runs.append(run)
    results = pd.concat(runs)
    if args.csv:
        results.to_csv(args.csv, index=False)
    means = (
        results.groupby(["offset", "method", "dataset"])[["roc_auc", "ap"]]
        .mean()
        .groupby(["offset", "method"])
        .mean()
    )
    print(means.round(4).to_string())


if __name__ == "__main__":
    main()
