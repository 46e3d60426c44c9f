"""scikit-learn's common checks, once for every configuration users pick."""

import pytest
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    parametrize_with_checks,
)

from farout import KMeansAnomalyDetector
from farout.ensemble import BaggedKMeans
from farout.features import FeatureEncoder
from farout.secondary import SecondaryCheck
from farout.thresholds import THRESHOLDS, MeanStd, PerCluster

ESTIMATORS = [
    KMeansAnomalyDetector(),
    KMeansAnomalyDetector(n_clusters=3, metric="manhattan", scaling="robust"),
    KMeansAnomalyDetector(metric="cosine", score_mode="distance", k_selection="elbow"),
    KMeansAnomalyDetector(n_clusters=2, metric="mahalanobis", threshold=MeanStd(2.0)),
    KMeansAnomalyDetector(n_clusters=2, scaling="minmax", trim=0.05, threshold=PerCluster(95)),
    SecondaryCheck(checker="lof", random_state=0),
    # NaN is accepted (and the allow_nan tag says so) in every metric
    *(
        KMeansAnomalyDetector(n_clusters=2, metric=metric, missing="impute")
        for metric in ("euclidean", "manhattan", "cosine", "mahalanobis")
    ),
    BaggedKMeans(n_estimators=5, random_state=0),
    FeatureEncoder(),
    FeatureEncoder(scaling="robust", missing="impute"),
]


def _expected_failures(estimator):
    if isinstance(getattr(estimator, "threshold", None), PerCluster):
        # Documented: with a cut per cluster, decision_function subtracts each
        # row's own cluster cut, so it is not score_samples minus one scalar.
        return {"check_outliers_train": "per-cluster cut, not a scalar offset_"}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", sorted(THRESHOLDS))
@pytest.mark.parametrize(
    "check",
    [
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_get_params_invariance,
        check_set_params,
    ],
    ids=lambda c: c.__name__,
)
def test_thresholds_follow_the_estimator_conventions(name, check):
    # Thresholds are fitted on scores, not on X: the conventions that do not
    # fit (parameters, cloning, get/set_params) are the ones that apply.
    check(name, THRESHOLDS[name]())
