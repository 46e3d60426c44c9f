"""Where the Dask work runs: a scheduler's address, or a LocalCluster on
this machine."""

import contextlib
import os

from ..exceptions import InputError

__all__ = ["connect", "local_workers"]

# Seconds to wait for a scheduler to answer before naming the address.
CONNECT_TIMEOUT = 10


def local_workers():
    """Worker processes for a LocalCluster sized to this machine: one per
    core this process may run on, one thread each (the kernels run serial
    inside a task)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def connect(address, *, n_workers=None, option="address", timeout=CONNECT_TIMEOUT):
    """A ``distributed.Client`` for the block: ``address`` is a scheduler's
    (``tcp://host:8786``, or a scheduler file's path ending in ``.json``),
    or ``"local"`` to start a ``LocalCluster`` on 127.0.0.1 (``n_workers``
    processes, default one per core, one thread each), closed when the
    block ends. ``option`` names the setting in errors (``--dask`` on the
    command line); ``timeout``: seconds to wait for the scheduler."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            f"{option} needs Dask's distributed scheduler; pip install 'farout[dask]'."
        ) from None
    if address == "local":
        workers = local_workers() if n_workers is None else n_workers
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",  # a free port, never a clash with another cluster
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    kwargs = {"scheduler_file": address} if str(address).endswith(".json") else {}
    try:
        client = Client(None if kwargs else address, timeout=timeout, set_as_default=True, **kwargs)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise InputError(
            f"{option} {address!r}: no Dask scheduler answered there ({exc}). Give a running "
            "scheduler's address (e.g. tcp://10.0.0.5:8786, or its scheduler file), or "
            "'local' to start a cluster on this machine."
        ) from None
    with client:
        yield client
