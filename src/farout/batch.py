"""Batch scoring of files: read in chunks, score, write as it goes.

Memory stays flat whatever the file size; the output appears only when the
whole file has been scored.
"""

import pandas as pd
from tqdm.auto import tqdm

from .exceptions import InputError
from .io import TableWriter, iter_tables

__all__ = ["model_columns", "read_dtypes", "score_file"]

RESULT_COLUMNS = ("anomaly_score", "is_anomaly", "severity", "cluster", "reason")


def read_dtypes(detector):
    """Dtypes to force when reading data for ``detector``: categorical columns
    are read as text, even when their values look like numbers."""
    return {c["name"]: str for c in detector.feature_schema() if c["kind"] == "categorical"}


def model_columns(detector, frame):
    """The model's feature columns of ``frame``, by name; other columns are
    ignored. Missing columns are an error that names them."""
    names = getattr(detector, "feature_names_in_", None)
    if names is None:
        raise InputError(
            "the model was fitted on an array without column names; score it from "
            "Python with the same column order, or refit it on a named table."
        )
    names = [str(n) for n in names]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InputError(
            f"the data lacks the model's column(s) {', '.join(map(repr, missing))}; "
            f"the model needs: {', '.join(map(repr, names))}."
        )
    clash = [n for n in RESULT_COLUMNS if n in frame.columns]
    if clash:
        raise InputError(
            f"the data already has column(s) {', '.join(map(repr, clash))}, which scoring "
            "adds; rename or drop them first."
        )
    return frame[names]


def score_file(
    detector,
    data_path,
    out_path,
    *,
    chunksize=100_000,
    reasons="flagged",
    top=3,
    fmt=None,
    out_fmt=None,
    progress=None,
):
    """Score ``data_path`` chunk by chunk into ``out_path``.

    The output holds every input column followed by ``anomaly_score``,
    ``is_anomaly``, ``severity``, ``cluster`` and ``reason``.

    Returns
    -------
    dict with ``rows`` and ``flagged`` counts.
    """
    rows = flagged = 0
    chunks = iter_tables(data_path, chunksize=chunksize, fmt=fmt, dtypes=read_dtypes(detector))
    # progress: None shows a bar only on a terminal (tqdm's rule)
    disable = None if progress is None else not progress
    bar = tqdm(unit=" rows", unit_scale=True, disable=disable, desc="scoring", leave=False)
    with bar, TableWriter(out_path, out_fmt) as writer:
        for chunk in chunks:
            result = detector.detect(model_columns(detector, chunk), reasons=reasons, top=top)
            writer.write(pd.concat([chunk, result], axis=1))
            rows += len(chunk)
            flagged += int(result["is_anomaly"].sum())
            bar.update(len(chunk))
    return {"rows": rows, "flagged": flagged}
