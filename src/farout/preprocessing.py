"""The 0.2 home of the feature encoder, kept so its imports work; the code
lives in :mod:`farout.features`."""

import warnings

from .features.encoder import MAX_SCALED, SCALINGS, FeatureEncoder, is_plain_numeric
from .features.labels import as_anomaly_labels

__all__ = ["MAX_SCALED", "SCALINGS", "FeatureEncoder", "as_anomaly_labels", "is_plain_numeric"]

warnings.warn(
    "farout.preprocessing is deprecated since farout 0.3 and will be removed in 0.5; "
    "import from farout.features instead.",
    FutureWarning,
    stacklevel=2,
)
