"""farout beside the baselines, on one split of one labelled table."""

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from .baselines import BASELINES, make_baseline
from .detector import KMeansAnomalyDetector
from .evaluation import evaluate
from .exceptions import InputError
from .features.encoder import FeatureEncoder
from .features.labels import as_anomaly_labels
from .features.schema import require_column
from .model_selection import temporal_split

__all__ = ["Comparison", "compare"]


@dataclass
class Comparison:
    """What :func:`compare` measured.

    Attributes
    ----------
    table : DataFrame
        One row per detector: ``roc_auc``, ``pr_auc``, ``precision`` and
        ``recall`` at ``alert_rate``, ``fit_seconds``, ``score_seconds``.
    scores : dict of name -> ndarray
        Test-set anomaly scores, for curves.
    y_test : ndarray of bool
    alert_rate : float
    detector : KMeansAnomalyDetector
        The fitted farout detector.
    """

    table: pd.DataFrame
    scores: dict = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    alert_rate: float
    detector: KMeansAnomalyDetector = field(repr=False)


def compare(
    frame,
    label,
    *,
    time_column=None,
    detector=None,
    baselines=tuple(BASELINES),
    alert_rate=None,
    test_size=0.3,
    random_state=0,
    progress=False,
):
    """Fit farout and each baseline on the same training rows (labels
    unused) and score the same test rows.

    The split is by time when ``time_column`` is given (the last
    ``test_size`` of the time order is the test set), otherwise stratified
    at random. ``alert_rate`` defaults to the fraction of training rows the
    farout detector flags; every detector is then judged flagging that same
    fraction of the test rows, its highest scores.
    """
    require_column(frame, label, "label")
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise InputError(f"unknown baseline(s) {unknown}; choose from {list(BASELINES)}.")
    truth = as_anomaly_labels(frame[label])
    if time_column is not None:
        train, test = temporal_split(frame, time_column, (1 - test_size, test_size))
    else:
        train, test = train_test_split(
            frame, test_size=test_size, stratify=truth, random_state=random_state
        )
    drop = [label] + ([time_column] if time_column else [])
    X_train, X_test = train.drop(columns=drop), test.drop(columns=drop)
    y_test = as_anomaly_labels(test[label])

    farout = (
        clone(detector)
        if detector is not None
        else KMeansAnomalyDetector(random_state=random_state)
    )
    results, scores = {}, {}
    start = time.perf_counter()
    farout.fit(X_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scores["farout"] = np.asarray(farout.anomaly_score(X_test))
    results["farout"] = (fit_seconds, time.perf_counter() - start)
    rate = farout.training_summary_["flagged_fraction"] if alert_rate is None else alert_rate
    if not 0 < rate < 1:
        raise InputError(f"alert_rate must be in (0, 1), got {rate!r}.")

    encoder = FeatureEncoder("standard", farout.missing).fit(X_train)
    Z_train, Z_test = encoder.transform(X_train), encoder.transform(X_test)
    for name in tqdm(baselines, desc="baselines", disable=not progress, leave=False):
        model = make_baseline(name, random_state)
        start = time.perf_counter()
        model.fit(Z_train)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        scores[name] = np.asarray(model.anomaly_score(Z_test))
        results[name] = (fit_seconds, time.perf_counter() - start)

    n_flag = max(1, int(round(rate * len(y_test))))
    rows = {}
    for name, s in scores.items():
        flags = np.zeros(len(s), dtype=bool)
        flags[np.argsort(-s, kind="stable")[:n_flag]] = True
        m = evaluate(y_test, s, flags=flags)
        rows[name] = {
            "roc_auc": m["roc_auc"],
            "pr_auc": m["pr_auc"],
            "precision": m["precision"],
            "recall": m["recall"],
            "fit_seconds": results[name][0],
            "score_seconds": results[name][1],
        }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("detector")
    return Comparison(table, scores, y_test, float(rate), farout)
