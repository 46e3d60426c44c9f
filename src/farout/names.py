"""The names a user may pass for each choice, as plain tuples.

The estimators declare their ``_parameter_constraints`` from these, and the
command line lists them in its help without importing scikit-learn (which
costs a second before ``farout --help`` could print). The registries that
map a name to its class (metrics, score modes, baselines, ...) hold exactly
these names; ``tests/test_architecture.py`` checks that they agree.
"""

__all__ = [
    "BASELINES",
    "DRIFT_POLICIES",
    "K_SELECTIONS",
    "METRICS",
    "MISSING",
    "REASONS",
    "SCALINGS",
    "SCORE_MODES",
    "THRESHOLD_TARGETS",
    "TUNING_METRICS",
]

METRICS = ("euclidean", "manhattan", "cosine", "mahalanobis")
SCORE_MODES = ("ensemble", "distance", "normalized")
#: Feature scalings; ``None`` (``--scaling none``) leaves the features as they are.
SCALINGS = ("standard", "minmax", "robust")
K_SELECTIONS = ("silhouette", "elbow")
MISSING = ("error", "impute")
#: Which rows get a reason: the flagged ones, all, or none.
REASONS = ("flagged", "all", "none")
#: What a stream's drift event does (``farout.streaming.drift.POLICIES``).
DRIFT_POLICIES = ("alert", "refresh", "refit")
BASELINES = ("zscore", "iqr", "iforest", "lof", "ocsvm", "autoencoder")
#: What ``farout threshold`` can fit a cut to.
THRESHOLD_TARGETS = ("cost", "precision", "recall", "fpr")
#: What ``farout tune`` (and the anomaly scorers) can judge candidates by.
TUNING_METRICS = ("average_precision", "roc_auc", "precision_at_budget")
