"""Where generation chunks run: a pool of local worker processes, or a Dask cluster.

Both are :class:`concurrent.futures.Executor` objects, so :func:`jetkit.data.generate.run_chunks`
treats them alike; a chunk's content depends only on its seed, never on where it ran. Dask
(``dask.distributed``, the engine of coffea and many analysis facilities; ``dask-jobqueue``
starts its workers through HTCondor or Slurm) is the optional extra ``jetkit[scale]``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor

__all__ = ["dask_executor", "local_pool"]


def local_pool(jobs: int) -> ProcessPoolExecutor:
    """``jobs`` local worker processes, started with ``spawn``: forking a process that has JAX
    loaded can deadlock."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def dask_executor(scheduler: str | None = None, workers: int = 2) -> tuple[Executor, int, Callable[[], None]]:
    """A Dask client's executor: on the cluster at ``scheduler`` or on a LocalCluster of
    ``workers`` single-threaded processes. Returns (executor, number of worker threads, close)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise ImportError("the Dask executor needs the scale extra: pip install 'jetkit[scale]'") from err
    if scheduler:
        client = Client(scheduler)
        close = client.close
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        close = lambda: (client.close(), cluster.close())  # noqa: E731
    return client.get_executor(pure=False), max(sum(client.nthreads().values()), 1), close


