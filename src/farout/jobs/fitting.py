"""Fitting on a file larger than memory: a uniform reservoir sample drawn in
one pass, a fit on it, then mini-batch passes over the whole file that move
only the clusters."""

import copy

import pyarrow as pa
from tqdm.auto import tqdm

from .._kernels.kmeans import as_generator
from ..exceptions import InputError
from ..io import select_columns
from .blocks import iter_frames
from .sampling import Reservoir

__all__ = ["fit_file"]


def fit_file(
    detector,
    data_path,
    *,
    fmt=None,
    columns=None,
    exclude=None,
    sample_rows=1_000_000,
    passes=1,
    chunksize=100_000,
    sep=",",
    random_state=None,
    progress=None,
):
    """Fit ``detector`` on a file of any size, with memory bounded by
    ``sample_rows``.

    A file of at most ``sample_rows`` rows is fitted in memory, exactly as
    ``detector.fit`` would. A larger file is read once to draw a uniform
    sample of ``sample_rows`` rows (a reservoir: each row gets a random key
    and the smallest keys are kept); the detector is fitted on the sample
    (scaling, categories, k selection, initialisation, ensemble); then
    ``passes`` passes over the whole file move the clusters with mini-batch
    steps (:meth:`~farout.KMeansAnomalyDetector.refine_clusters`), and the
    threshold and tiers are refitted on the sample. ``random_state`` seeds
    the sample; None takes the detector's ``random_state``, so a seeded
    detector fits the same model from the same file every time.

    Returns
    -------
    dict with ``rows`` (in the file), ``sampled`` (rows fitted on) and
    ``passes`` (refinement passes made).
    """
    if random_state is None:
        # reproducible with the detector's own seed; a generator is copied,
        # so that sampling leaves the fit's own draws as they would be
        random_state = copy.deepcopy(getattr(detector, "random_state", None))
    reservoir = Reservoir(sample_rows, as_generator(random_state))
    disable = None if progress is None else not progress
    with tqdm(unit=" rows", unit_scale=True, disable=disable, desc="sampling") as bar:
        for frame in iter_frames(data_path, fmt=fmt, chunksize=chunksize, sep=sep):
            reservoir.offer(select_columns(frame, columns, exclude))
            bar.update(len(frame))
    sample, rows = reservoir.frame(), reservoir.seen
    pa.default_memory_pool().release_unused()  # Arrow keeps freed blocks cached
    detector.fit(sample)
    made = 0
    if rows > len(sample) and data_path == "-":
        raise InputError(
            f"standard input held {rows:,} rows, more than --sample-rows {sample_rows:,}, "
            "and it cannot be read a second time to refine the clusters; fit on a file, "
            "or raise --sample-rows."
        )
    if rows > len(sample):
        names = list(detector.feature_names_in_)
        for made in range(1, passes + 1):
            with tqdm(
                total=rows, unit=" rows", unit_scale=True, disable=disable, desc=f"pass {made}"
            ) as bar:
                for frame in iter_frames(data_path, fmt=fmt, chunksize=chunksize, sep=sep):
                    # the model's columns, by name (a JSON Lines chunk may
                    # lack one: missing there, as in the sample)
                    detector.refine_clusters(frame.reindex(columns=names))
                    bar.update(len(frame))
        detector.fit_threshold(sample, tiers=detector.tiers)
    return {"rows": rows, "sampled": len(sample), "passes": made}
