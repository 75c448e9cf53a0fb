"""Data-parallel training over the devices of one process or of several JAX processes.

One process with several devices (GPUs of a node, or ``XLA_FLAGS=--xla_force_host_platform_device_count``
on a CPU): each global batch is sharded over the devices, parameters are replicated, XLA
all-reduces the gradients. Several processes (a Slurm job, one process per GPU, or processes on
one machine): every process runs the same program after ``jax.distributed.initialize`` (which
reads Slurm's variables by itself), holds the same training set on its host, and feeds only its
own slice of every global batch to its devices (:func:`process_batch`); the optimiser step is one
program across all of them (gloo collectives on CPUs, NCCL on GPUs)::

    srun --ntasks=4 --gpus-per-task=1 python my_training.py   # it calls initialize() first

    # two processes on this machine (CPU); tests/scale_out_worker.py is a complete example
    python tests/scale_out_worker.py /tmp/out 2 0 12345 & python tests/scale_out_worker.py /tmp/out 2 1 12345

:func:`jetkit.train.fit` uses these with ``data_parallel=True``; checkpoints are written by
process 0 only (:func:`is_main_process`).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

__all__ = ["initialize", "is_main_process", "placement", "process_batch", "replicate"]


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
    """Join a multi-process JAX program (``jax.distributed.initialize``); with no arguments the
    cluster environment (Slurm, Open MPI, TPU pods) supplies them. Call before any JAX work."""
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if num_processes is not None and process_id is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id}")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)


def is_main_process() -> bool:
    """True in process 0 (the one that writes files and shows progress)."""
    return jax.process_index() == 0


def placement(batch_size: int) -> tuple[NamedSharding, NamedSharding]:
    """(batch sharding over all devices of all processes, replicated sharding)."""
    n_dev = jax.device_count()
    if batch_size % n_dev:
        raise ValueError(f"batch_size {batch_size} must be divisible by the {n_dev} devices")
    mesh = jax.make_mesh((n_dev,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    return NamedSharding(mesh, PartitionSpec("data")), NamedSharding(mesh, PartitionSpec())


def replicate(tree, sharding: NamedSharding):
    """Every array of ``tree`` (the same values in every process) replicated on all devices."""
    return jax.device_put(tree, sharding)


def process_batch(data, indices: np.ndarray, sharding: NamedSharding):
    """The global batch ``data[indices]`` as arrays sharded by ``sharding``, built from this
    process's slice only: each process gathers just the rows its own devices hold.

    ``data`` is a pytree of host arrays that share their first axis (the same in every process),
    ``indices`` the global batch (the same in every process)."""
    indices = np.asarray(indices)
    spans = [s[0] for s in sharding.addressable_devices_indices_map((len(indices),)).values()]
    lo = min(s.start or 0 for s in spans)
    hi = max(len(indices) if s.stop is None else s.stop for s in spans)
    local = indices[lo:hi]
    return jax.tree_util.tree_map(
        lambda a: jax.make_array_from_process_local_data(
            sharding, np.asarray(a)[local], (len(indices), *np.shape(a)[1:])), data)
