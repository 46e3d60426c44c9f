"""Features: how a table becomes the matrix the clusters see.

- :mod:`.encoder`: :class:`FeatureEncoder`, scaling, one-hot categories and
  missing values, a scikit-learn transformer;
- :mod:`.schema`: the columns a model needs, found by name;
- :mod:`.labels`: anomaly labels in the forms farout accepts.

Time and per-entity features (rolling windows, lags, per-account
aggregates) belong here too; they are not built yet.
"""

from .encoder import MAX_SCALED, SCALINGS, FeatureEncoder, is_plain_numeric
from .labels import as_anomaly_labels
from .schema import model_columns, require_column

__all__ = [
    "MAX_SCALED",
    "SCALINGS",
    "FeatureEncoder",
    "as_anomaly_labels",
    "is_plain_numeric",
    "model_columns",
    "require_column",
]
