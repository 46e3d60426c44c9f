"""The 0.2 home of the feature encoder, kept so its imports work; the code
lives in :mod:`farout.features`."""

from .features.encoder import MAX_SCALED, SCALINGS, FeatureEncoder, is_plain_numeric
from .features.labels import as_anomaly_labels

__all__ = ["MAX_SCALED", "SCALINGS", "FeatureEncoder", "as_anomaly_labels", "is_plain_numeric"]
