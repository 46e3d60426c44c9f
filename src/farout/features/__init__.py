"""Features: how a table becomes the matrix the clusters see.

- :mod:`.encoder`: :class:`FeatureEncoder`, scaling, one-hot categories and
  missing values, a scikit-learn transformer;
- :mod:`.schema`: the columns a model needs, found by name;
- :mod:`.labels`: anomaly labels in the forms farout accepts;
- :mod:`.windows`: :class:`WindowFeatures`, lags, rolling statistics, rate
  of change, deviation from a baseline and subsequence windows, computed
  online or on a whole table with the same results;
- :mod:`.entities`: :class:`EntityFeatures`, per-entity aggregates (event
  counts in a span, time since the last event, value against the entity's
  own running mean and spread) with bounded state and eviction;
- :mod:`.calendar`: :class:`CalendarFeatures`, hour of day and day of week
  on circles (sin, cos);
- :mod:`.stack`: :class:`FeatureStack`, transformers side by side, as a
  stream runs them.
"""

from .calendar import CalendarFeatures
from .encoder import MAX_SCALED, SCALINGS, FeatureEncoder, is_plain_numeric
from .entities import EntityFeatures
from .labels import as_anomaly_labels
from .schema import model_columns, require_column
from .stack import FeatureStack
from .windows import WindowFeatures

__all__ = [
    "MAX_SCALED",
    "SCALINGS",
    "CalendarFeatures",
    "EntityFeatures",
    "FeatureEncoder",
    "FeatureStack",
    "WindowFeatures",
    "as_anomaly_labels",
    "is_plain_numeric",
    "model_columns",
    "require_column",
]
