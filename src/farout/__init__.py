"""farout: anomaly detection by learning what normal looks like with k-means.

High scores indicate anomalies. ``anomaly_score`` is, by default, the mean
distance to the nearest centroid over a bag of trimmed k-means models; with
``score_mode="normalized"`` it is A(x) = D(x, C_i) / (sigma(C_i) + eps), the
distance in units of the nearest cluster's spread.
"""

import importlib

from .exceptions import FaroutError, InputError, ModelFileError

__all__ = [
    "FaroutError",
    "InputError",
    "KMeansAnomalyDetector",
    "ModelFileError",
    "SecondaryCheck",
    "__version__",
    "audit",
    "load",
    "retrain",
    "tune",
]

# Imported on first use (PEP 562): scikit-learn and pandas take a second to
# import, and the command line's help and ``info`` need neither.
_LAZY = {
    "KMeansAnomalyDetector": "detector",
    "SecondaryCheck": "secondary",
    "audit": "data_audit",
    "load": "loading",
    "retrain": "service.retraining",
    "tune": "tuning",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name == "__version__":
        from .persistence import farout_version

        value = farout_version()
    else:
        raise AttributeError(f"module 'farout' has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
