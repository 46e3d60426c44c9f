"""Writes the model files of farout 0.2.0 that tests/test_compat.py loads.

Run once with the 0.2.0 code (commit ffd1c24, the last before the core was
carved out), from the repository root:

    python tests/data/models-0.2.0/make.py

Each NAME.farout is a model file as 0.2.0 wrote it; NAME.json holds what
0.2.0's ``detect(rows, reasons="all")`` gave on rows.csv (scores as exact
float text), which later versions must reproduce.
"""

import json
import os

import numpy as np
import pandas as pd

from farout import KMeansAnomalyDetector
from farout.thresholds import MeanStd, Percentile, PerCluster

HERE = os.path.dirname(os.path.abspath(__file__))


def frames():
    rng = np.random.default_rng(20261202)
    n = 800
    numeric = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 0.6, n),
            "hour": rng.integers(0, 24, n).astype(float),
            "x": rng.normal(0, 1, n),
            "y": rng.normal(5, 2, n),
        }
    )
    numeric.loc[rng.choice(n, 12, replace=False), "amount"] *= 25
    mixed = numeric.assign(kind=rng.choice(["card", "cash", "web"], n, p=[0.6, 0.3, 0.1]))
    gaps = mixed.copy()
    gaps.loc[rng.choice(n, 30, replace=False), "x"] = np.nan
    gaps.loc[rng.choice(n, 20, replace=False), "kind"] = None
    return numeric, mixed, gaps


def configs(numeric, mixed, gaps):
    tiers = {"warning": Percentile(95), "critical": Percentile(99.5)}
    yield "default", KMeansAnomalyDetector(random_state=0), numeric
    yield "mixed-tiers", KMeansAnomalyDetector(random_state=1, tiers=tiers), mixed
    yield (
        "manhattan-robust",
        KMeansAnomalyDetector(3, metric="manhattan", scaling="robust", random_state=2),
        mixed,
    )
    yield (
        "cosine-distance",
        KMeansAnomalyDetector(metric="cosine", score_mode="distance", random_state=3),
        numeric,
    )
    yield (
        "mahalanobis-normalized",
        KMeansAnomalyDetector(
            4,
            metric="mahalanobis",
            score_mode="normalized",
            threshold=MeanStd(2.5),
            random_state=4,
        ),
        numeric,
    )
    yield (
        "percluster-minmax",
        KMeansAnomalyDetector(
            3,
            scaling="minmax",
            score_mode="distance",
            trim=0.05,
            threshold=PerCluster(97),
            tiers={"high": PerCluster(97)},
            random_state=5,
        ),
        numeric,
    )
    yield (
        "impute-elbow",
        KMeansAnomalyDetector(missing="impute", k_selection="elbow", tiers=tiers, random_state=6),
        gaps,
    )


def main():
    numeric, mixed, gaps = frames()
    gaps.to_csv(os.path.join(HERE, "rows.csv"), index=False)
    rows = pd.read_csv(os.path.join(HERE, "rows.csv"), dtype={"kind": str})
    for name, det, frame in configs(numeric, mixed, gaps):
        det.fit(frame.iloc[:600])
        if name == "default":
            # a model moved on by partial_fit and refine_clusters, as fit_file does
            det.partial_fit(frame.iloc[600:700])
            det.refine_clusters(frame.iloc[700:])
        det.save(os.path.join(HERE, f"{name}.farout"))
        data = rows[list(frame.columns)]
        if data.isna().any().any() and det.missing == "error":
            data = data.fillna({"x": 0.0, "kind": "card"})
        result = det.detect(data, reasons="all")
        expected = {
            "columns": list(frame.columns),
            "anomaly_score": [repr(float(v)) for v in result["anomaly_score"]],
            "is_anomaly": result["is_anomaly"].astype(bool).tolist(),
            "severity": result["severity"].tolist(),
            "cluster": result["cluster"].astype(int).tolist(),
            "reason": result["reason"].tolist(),
        }
        with open(os.path.join(HERE, f"{name}.json"), "w") as handle:
            json.dump(expected, handle)


if __name__ == "__main__":
    main()
