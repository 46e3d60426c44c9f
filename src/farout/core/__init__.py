"""The scoring core: metric strategies, mergeable cluster statistics, the
clusters they describe, and the function that scores a block of rows.

Layers call only downwards: ``_kernels`` (pure array code) < the encoder
(:mod:`farout.features`) < ``core`` < the estimators < the workflows
and the command line.
"""

from .clusters import Clusters
from .metric import METRICS, make_metric, metric_from_state
from .scoring import (
    SCORE_MODES,
    Detection,
    Scorer,
    make_score_mode,
    score_block,
    score_rows,
)
from .stats import ClusterStats

__all__ = [
    "METRICS",
    "SCORE_MODES",
    "ClusterStats",
    "Clusters",
    "Detection",
    "Scorer",
    "make_metric",
    "make_score_mode",
    "metric_from_state",
    "score_block",
    "score_rows",
]
