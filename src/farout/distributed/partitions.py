"""A Dask collection's partitions as delayed blocks in row order, the tree
reduction that combines what each block computes, the model sent once to
every worker, and the one level of parallelism inside a task."""

import contextlib

import dask
import dask.array as da
import dask.dataframe as dd
import numba
from threadpoolctl import threadpool_limits

from ..exceptions import InputError

__all__ = ["SPLIT_EVERY", "blocks", "broadcast", "is_dask", "serial_kernels", "tree_reduce"]

# Results combined per node of the tree reduction.
SPLIT_EVERY = 8


def is_dask(X):
    """True for a Dask DataFrame or Array."""
    return isinstance(X, (dd.DataFrame, da.Array))


def blocks(X):
    """``(blocks, lengths)``: the partitions of Dask DataFrame or 2-D Array
    ``X`` as delayed pandas frames or NumPy arrays, in row order, and their
    row counts where Dask knows them (an Array's chunks), else None."""
    if isinstance(X, dd.DataFrame):
        return list(X.to_delayed()), None
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise InputError(
                f"X must be a 2-D Dask Array (rows x features), got {X.ndim} dimension(s)."
            )
        X = X.rechunk({1: -1})  # each block holds whole rows
        lengths = list(X.chunks[0])
        known = all(length == length for length in lengths)  # NaN: unknown
        return list(X.to_delayed().ravel()), lengths if known else None
    raise InputError(
        f"X must be a Dask DataFrame or Array, got {type(X).__name__}; for data in memory "
        "use the detector's own fit and score methods."
    )


def tree_reduce(parts, combine, split_every=SPLIT_EVERY):
    """One delayed value: delayed ``parts`` combined in order,
    ``split_every`` at a time, level by level, so no task receives more
    than ``split_every`` results and the client receives one."""
    parts = list(parts)
    if not parts:
        raise InputError("the data holds no partitions.")
    while len(parts) > 1:
        parts = [
            dask.delayed(_combine_all, pure=True)(combine, parts[i : i + split_every])
            for i in range(0, len(parts), split_every)
        ]
    return parts[0]


def _combine_all(combine, values):
    values = [value for value in values if value is not None]  # empty partitions
    if not values:
        return None
    result = values[0]
    for value in values[1:]:
        result = combine(result, value)
    return result


def broadcast(obj):
    """``obj`` (the fitted model) as one key of the graph that every task
    depends on: it is pickled once into the graph, computed on one worker and
    fetched once by each other worker that needs it, not shipped with each
    task. Not scattered: a scattered value has no recipe, so a worker that
    dies holding its only copy would lose the job; a graph key is simply
    recomputed elsewhere."""
    return dask.delayed(obj, pure=True, traverse=False)


@contextlib.contextmanager
def serial_kernels():
    """Inside a task the kernels run on one thread, BLAS too: Dask's worker
    threads are the one level of parallelism (no oversubscription)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(previous)
