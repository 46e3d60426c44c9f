"""Features: how a table becomes the matrix the clusters see.

- :mod:`.encoder`: :class:`FeatureEncoder`, scaling, one-hot categories and
  missing values, a scikit-learn transformer;
- :mod:`.schema`: the columns a model needs, found by name;
- :mod:`.labels`: anomaly labels in the forms farout accepts;
- :mod:`.windows`: :class:`WindowFeatures`, lags, rolling statistics, rate
  of change, deviation from a baseline and subsequence windows, computed
  online or on a whole table with the same results.

Time-of-day context and per-entity aggregates are not built yet.
"""

from .encoder import MAX_SCALED, SCALINGS, FeatureEncoder, is_plain_numeric
from .labels import as_anomaly_labels
from .schema import model_columns, require_column
from .windows import WindowFeatures

__all__ = [
    "MAX_SCALED",
    "SCALINGS",
    "FeatureEncoder",
    "WindowFeatures",
    "as_anomaly_labels",
    "is_plain_numeric",
    "model_columns",
    "require_column",
]
