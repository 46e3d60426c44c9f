"""The demo: generated card transactions, end to end.

Generates transactions with planted fraud, fits a detector on the features
alone (no labels), scores every row, evaluates against the planted labels,
and writes the model and a scored CSV under one folder.
"""

import os
from dataclasses import dataclass

import pandas as pd

from .datasets import make_transactions
from .detector import KMeansAnomalyDetector
from .evaluation import evaluate
from .thresholds import Percentile
from .writer import TableWriter

__all__ = ["DemoResult", "demo_detector", "run_demo"]

LABEL_COLUMNS = ["is_fraud", "fraud_type"]


@dataclass
class DemoResult:
    """What :func:`run_demo` did: metrics, the top rows, the files, and a
    printable summary."""

    metrics: dict
    top: pd.DataFrame
    model_path: str
    scored_path: str
    detector: KMeansAnomalyDetector
    summary: str


def demo_detector(random_state=0, verbose=0):
    """The demo's detector, not yet fitted: three severity tiers, 3% flagged
    (``farout serve --demo`` serves the same)."""
    return KMeansAnomalyDetector(
        threshold=Percentile(97),
        tiers={"monitor": Percentile(95), "warning": Percentile(97), "critical": Percentile(99.5)},
        random_state=random_state,
        verbose=verbose,
    )


def run_demo(out_dir="farout-demo", n_rows=20_000, random_state=0, verbose=0):
    """Run the demo and write its outputs under ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    data = make_transactions(n_rows, random_state=random_state)
    features = data.drop(columns=LABEL_COLUMNS)
    detector = demo_detector(random_state, verbose).fit(features)
    result = detector.detect(features)
    metrics = evaluate(data["is_fraud"], result["anomaly_score"], flags=result["is_anomaly"])

    model_path = os.path.join(out_dir, "model.farout")
    scored_path = os.path.join(out_dir, "scored.csv")
    detector.save(model_path)
    scored = pd.concat([data, result], axis=1)
    with TableWriter(scored_path) as writer:  # flags as true/false, as `farout score`
        writer.write(scored.rename_axis("row").reset_index())

    top = scored.sort_values("anomaly_score", ascending=False).head(5)
    summary = _summary(data, detector, metrics, top, model_path, scored_path)
    return DemoResult(metrics, top, model_path, scored_path, detector, summary)


def _summary(data, detector, metrics, top, model_path, scored_path):
    n_fraud = int(data["is_fraud"].sum())
    lines = [
        f"farout demo: {len(data):,} card transactions, {n_fraud} planted fraud "
        f"({n_fraud / len(data):.1%}) of three kinds.",
        f"Fitted on the features alone: k={detector.n_clusters_} clusters "
        f"(chosen by {detector.k_selection}), metric={detector.metric}, "
        f"score={detector.score_mode}, "
        f"threshold {detector.threshold_!r} (cut {detector.threshold_.cut_:.2f}).",
        "",
        "Evaluation against the planted labels:",
        f"  precision {metrics['precision']:.3f}   recall {metrics['recall']:.3f}   "
        f"F1 {metrics['f1']:.3f}",
        f"  ROC-AUC   {metrics['roc_auc']:.3f}   PR-AUC {metrics['pr_auc']:.3f}   "
        f"alert rate {metrics['alert_rate']:.1%}",
        "",
        "The five most anomalous transactions:",
    ]
    for row, record in top.iterrows():
        lines.append(
            f"  row {row}: score {record['anomaly_score']:.1f} [{record['severity']}] "
            f"planted: {record['fraud_type']}"
        )
        lines.append(f"    {record['reason']}")
    lines += ["", f"Model written to {model_path}", f"Scored rows written to {scored_path}"]
    return "\n".join(lines)
