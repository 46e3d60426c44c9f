"""Drift detection on a synthetic stream, beside river's detectors in the
same run: false alarms in stable rows and the delay to catch a change.

Each seed: 4 standard-normal features, ``--stable`` stable rows, then (a) a
1-sd mean shift in one feature, or (b) its standard deviation doubled, for
``--after`` more rows. farout's ``DriftMonitor`` (default ert=100,000) runs
on the 4 features and a score column (|N(0,1)|, stable throughout); river's
ADWIN, KSWIN and PageHinkley run at their defaults, one per feature, a
drift being any of the four firing. A false alarm is a drift in the stable
rows; the delay counts rows from the change to the first drift after it.

Run:  python benchmarks/drift.py [--seeds 20] [--stable 100000] [--after 5000]
Needs river (pip install river).
"""

import argparse
import statistics
import time

import numpy as np


def _farout(X, scores):
    from farout.streaming import DriftMonitor

    monitor, names = DriftMonitor(), [f"f{j}" for j in range(X.shape[1])]
    return [
        i for i, (x, s) in enumerate(zip(X, scores, strict=True)) if monitor.step(x, s, names)[0]
    ]


def _river(kind):
    def run(X, scores):
        from river import drift

        made = {"ADWIN": drift.ADWIN, "KSWIN": drift.KSWIN, "PageHinkley": drift.PageHinkley}
        detectors = [made[kind]() for _ in range(X.shape[1])]
        found = []
        for i, row in enumerate(X):
            fired = False
            for d, v in zip(detectors, row, strict=True):
                d.update(float(v))
                fired |= d.drift_detected
            if fired:
                found.append(i)
        return found

    return run


DETECTORS = {
    "farout": _farout,
    "ADWIN": _river("ADWIN"),
    "KSWIN": _river("KSWIN"),
    "PageHinkley": _river("PageHinkley"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--stable", type=int, default=100_000)
    parser.add_argument("--after", type=int, default=5_000)
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    args = parser.parse_args(argv)
    names = args.detectors.split(",")
    for case in ("mean +1 sd", "sd x2"):
        results = {n: {"false": [], "delay": [], "seconds": 0.0} for n in names}
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            X = rng.standard_normal((args.stable + args.after, 4))
            if case == "mean +1 sd":
                X[args.stable :, 1] += 1.0
            else:
                X[args.stable :, 1] *= 2.0
            scores = np.abs(rng.standard_normal(len(X)))
            for n in names:
                start = time.perf_counter()
                found = DETECTORS[n](X, scores)
                results[n]["seconds"] += time.perf_counter() - start
                results[n]["false"].append(sum(i < args.stable for i in found))
                after = [i - args.stable for i in found if i >= args.stable]
                results[n]["delay"].append(after[0] if after else None)
        print(f"\n{case} after {args.stable:,} stable rows, {args.seeds} seeds")
        print(
            f"{'detector':<13}{'false alarms / seed':>22}{'median delay':>14}"
            f"{'max delay':>11}{'missed':>8}{'rows/s':>12}"
        )
        for n in names:
            r = results[n]
            caught = [d for d in r["delay"] if d is not None]
            median = statistics.median(caught) if caught else float("nan")
            longest = max(caught) if caught else float("nan")
            rate = args.seeds * (args.stable + args.after) / r["seconds"]
            print(
                f"{n:<13}{statistics.mean(r['false']):>22.2f}{median:>14.0f}{longest:>11.0f}"
                f"{args.seeds - len(caught):>8}{rate:>12,.0f}"
            )


if __name__ == "__main__":
    main()
