"""The stream detector's outputs for a batch of rows: one array a column,
filled row by row (by the compiled step or the Python one), then one
DataFrame."""

import numpy as np
import pandas as pd

__all__ = ["NO_DRIFT", "STREAM_COLUMNS", "Outputs"]

#: The columns :meth:`StreamDetector.process` returns, in order.
STREAM_COLUMNS = (
    "anomaly_score",
    "anomaly_likelihood",
    "is_anomaly",
    "severity",
    "cluster",
    "reason",
    "drift",
)

#: The drift arrays of the compiled step for a stream without drift tests.
NO_DRIFT = (np.zeros((0, 0)), np.zeros(4, dtype=np.int64), *(np.zeros(0),) * 7)


class Outputs:
    """The outputs of ``n`` rows."""

    def __init__(self, n):
        self.score = np.zeros(n)
        self.likelihood = np.zeros(n)
        self.flagged = np.zeros(n, dtype=bool)
        self.severity = np.full(n, None, dtype=object)
        self.cluster = np.zeros(n, dtype=np.int64)
        self.reason = np.full(n, "", dtype=object)
        self.drift = np.zeros(n, dtype=bool)

    def put(self, i, row):
        """Row ``i``'s outputs, a tuple in the order of ``STREAM_COLUMNS``."""
        (
            self.score[i],
            self.likelihood[i],
            self.flagged[i],
            self.severity[i],
            self.cluster[i],
            self.reason[i],
            self.drift[i],
        ) = row

    def row(self, i):
        """Row ``i``'s outputs but drift, as a step returns them."""
        return (
            float(self.score[i]),
            float(self.likelihood[i]),
            False,
            None,
            int(self.cluster[i]),
            "",
        )

    def frame(self, index):
        columns = (
            self.score,
            self.likelihood,
            self.flagged,
            self.severity,
            self.cluster,
            self.reason,
            self.drift,
        )
        return pd.DataFrame(
            {
                name: pd.Series(column, index=index, dtype=column.dtype, copy=False)
                for name, column in zip(STREAM_COLUMNS, columns, strict=True)
            },
            index=index,
        )
