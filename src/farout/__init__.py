"""farout: anomaly detection by learning what normal looks like with k-means.

High scores indicate anomalies. ``anomaly_score`` is, by default, the mean
distance to the nearest centroid over a bag of trimmed k-means models; with
``score_mode="normalized"`` it is A(x) = D(x, C_i) / (sigma(C_i) + eps), the
distance in units of the nearest cluster's spread.
"""

from .detector import KMeansAnomalyDetector
from .exceptions import FaroutError, InputError, ModelFileError
from .loading import load
from .persistence import farout_version
from .secondary import SecondaryCheck

__version__ = farout_version()

__all__ = [
    "FaroutError",
    "InputError",
    "KMeansAnomalyDetector",
    "ModelFileError",
    "SecondaryCheck",
    "__version__",
    "load",
]
