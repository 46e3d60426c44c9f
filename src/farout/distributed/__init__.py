"""farout on Dask: fit and score collections spread over a cluster, with
the answers the detector gives in memory.

- :func:`fit_dask` fits a :class:`~farout.KMeansAnomalyDetector` on a Dask
  DataFrame or Array: the scaling from column moments merged over the
  partitions, and everything else from the rows ``max_fit_rows`` samples in
  memory (the same global row positions for the same seed), so the model is
  the one ``fit`` gives; ``passes`` then refines the clusters over every row
  as a map-reduce of :class:`~farout.core.ClusterStats`.
- :func:`score_dask` scores a Dask DataFrame lazily: the result columns
  (``anomaly_score``, ``is_anomaly``, ``severity``, ``cluster``, ``reason``)
  beside the input's own; the model is one key of the graph, fetched once by each worker.
- :class:`ParallelPostFit` wraps a detector: ``predict``,
  ``score_samples``, ``decision_function``, ``anomaly_score`` and
  ``predict_cluster`` on Dask collections (higher ``anomaly_score`` is more
  anomalous; ``score_samples`` is its negative, as in scikit-learn).
- :func:`connect` opens a client on a scheduler address or a
  ``LocalCluster`` (``"local"``); :func:`read_dask` and
  :func:`write_parquet_folder` are the command line's files.

Importing this package imports Dask; ``pip install "farout[dask]"``.
"""

from .cluster import connect
from .files import read_dask, write_parquet_folder
from .fitting import fit_dask
from .scoring import score_dask
from .wrapper import ParallelPostFit

__all__ = [
    "ParallelPostFit",
    "connect",
    "fit_dask",
    "read_dask",
    "score_dask",
    "write_parquet_folder",
]
