"""Streaming: online anomaly detection, row by row, on the scoring core's
mergeable cluster statistics (``ClusterStats.decay`` and ``merge``).

- :class:`StreamDetector`: online k-means with forgetting, a dynamic cut,
  an anomaly likelihood in [0, 1], checkpoints.
- :class:`DriftMonitor`: CUSUM drift tests on every input column and the
  score, false alarms set by an expected run length.
- :class:`OnlineScaler`, :class:`ScoreHistory`: its scaling and its
  recent scores.
"""

from .detector import StreamDetector
from .drift import DriftMonitor
from .history import ScoreHistory
from .outputs import STREAM_COLUMNS
from .scaler import OnlineScaler

__all__ = ["STREAM_COLUMNS", "DriftMonitor", "OnlineScaler", "ScoreHistory", "StreamDetector"]
