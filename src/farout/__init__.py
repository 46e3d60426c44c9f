"""farout: anomaly detection by learning what normal looks like with k-means.

High scores indicate anomalies: ``anomaly_score`` is A(x) = D(x, C_i) /
(sigma(C_i) + eps), the distance to the nearest centroid in units of that
cluster's spread.
"""

from .detector import KMeansAnomalyDetector, load
from .exceptions import FaroutError, InputError, ModelFileError
from .persistence import farout_version

__version__ = farout_version()

__all__ = [
    "FaroutError",
    "InputError",
    "KMeansAnomalyDetector",
    "ModelFileError",
    "__version__",
    "load",
]
