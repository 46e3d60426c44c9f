"""scikit-learn's common checks, once for every configuration users pick."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from farout import KMeansAnomalyDetector
from farout.secondary import SecondaryCheck
from farout.thresholds import MeanStd, PerCluster

ESTIMATORS = [
    KMeansAnomalyDetector(),
    KMeansAnomalyDetector(n_clusters=3, metric="manhattan", scaling="robust"),
    KMeansAnomalyDetector(metric="cosine", score_mode="distance", k_selection="elbow"),
    KMeansAnomalyDetector(n_clusters=2, metric="mahalanobis", threshold=MeanStd(2.0)),
    KMeansAnomalyDetector(n_clusters=2, scaling="minmax", trim=0.05, threshold=PerCluster(95)),
    SecondaryCheck(checker="lof", random_state=0),
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
