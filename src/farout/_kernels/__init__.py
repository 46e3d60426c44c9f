"""Kernels: pure array functions, compiled with numba where a benchmark
showed it wins, each beside the NumPy (or pandas/Arrow) reference its tests
hold it to. No validation, no I/O, no estimator: everything above calls
down into these, never the other way.

- :mod:`.distance`: nearest-centre assignment, the ensemble's mean distance
- :mod:`.kmeans`: k-means++ seeding, Lloyd and mini-batch steps, cluster sums
- :mod:`.moments`: (count, mean, M2) of distances, and their merge
- :mod:`.stats`: column statistics for the encoder's scaling
- :mod:`.csv`: numeric CSV fields in, result columns spliced out
- :mod:`.cusum`: CUSUM alarm counts, for calibrating drift tests
- :mod:`.pairwise`: NumPy's pairwise sum, for compiled loops that must match it
- :mod:`.likelihood`: the stream's anomaly likelihood over a ring of scores
- :mod:`.stream`: the stream detector's prequential step over a batch
- :mod:`.compile`: one place for numba's flags and cache rule
"""
