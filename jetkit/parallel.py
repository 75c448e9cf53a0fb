"""Data-parallel training over the devices of one process or of several JAX processes.

**Per-jet work over the cores.** :func:`over_jets` splits the jets of a batch over this process's
devices (``jax.shard_map``): the substructure functions of :mod:`jetkit.physics` use it, so their
sequential clusterings run on every core. On a CPU, ``import jetkit`` makes one XLA CPU device per
available core (see :func:`cpu_devices`; ``JETKIT_CPU_DEVICES=1`` keeps one), which changes
nothing else: arrays still live on device 0 unless sharded.

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

import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["available_cores", "cpu_devices", "device_name", "initialize", "is_main_process", "over_jets", "placement",
           "process_batch", "replicate"]

_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def available_cores() -> int:
    """CPU cores this process may use: its affinity set, capped by a cgroup (v2) CPU quota (a
    Binder or Docker limit of 2 CPUs on a 64-core host is 2)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def device_name() -> str:
    """Where JAX computes, for a training record: e.g. "2 CPU cores" or "1 x NVIDIA H200"."""
    if jax.default_backend() == "cpu":
        return f"{available_cores()} CPU cores"
    return f"{jax.device_count()} x {jax.devices()[0].device_kind}"


def cpu_devices(n: int | None = None) -> int:
    """Ask XLA for ``n`` CPU devices (default: ``JETKIT_CPU_DEVICES`` or :func:`available_cores`)
    by adding ``--xla_force_host_platform_device_count`` to ``XLA_FLAGS``; returns the count asked
    for. No effect when ``XLA_FLAGS`` already sets it, or once JAX has started its CPU backend
    (``import jetkit`` calls this first thing)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if _DEVICE_FLAG in flags:
        return int(flags.split(_DEVICE_FLAG + "=")[1].split()[0])
    if n is None:
        n = int(os.environ.get("JETKIT_CPU_DEVICES", available_cores()))
    if n < 1:
        raise ValueError(f"need at least one CPU device, got {n}")
    if n > 1:
        os.environ["XLA_FLAGS"] = f"{flags} {_DEVICE_FLAG}={n}".strip()
    return n


@functools.lru_cache(maxsize=128)
def _sharded(fn, n_args: int, static: tuple, devices: tuple):
    mesh = Mesh(np.array(devices), ("jets",))
    spec = PartitionSpec("jets")
    return jax.jit(jax.shard_map(functools.partial(fn, **dict(static)), mesh=mesh,
                                 in_specs=(spec,) * n_args, out_specs=spec, check_vma=False))


def over_jets(fn, *arrays, **static):
    """``fn(*arrays, **static)`` with the jets (the leading axis of every array) split over this
    process's devices, each device running ``fn`` on its share (``jax.shard_map``); outputs are
    pytrees of arrays with the jet axis first. ``fn`` must treat jets independently. The batch is
    padded to a multiple of the device count by repeating its last jet. With one device, under a
    trace (inside ``jit``) or for fewer jets than two per device, it is just ``fn(*arrays, **static)``.
    ``static`` values must be hashable (one compilation per combination)."""
    devices = tuple(jax.local_devices())
    n = np.shape(arrays[0])[0]
    if any(np.shape(a)[0] != n for a in arrays):
        raise ValueError(f"every array needs the same number of jets; got {[np.shape(a) for a in arrays]}")
    if (len(devices) == 1 or n < 2 * len(devices)
            or any(isinstance(a, jax.core.Tracer) for a in arrays)):
        return fn(*arrays, **static)
    pad = -n % len(devices)
    if pad:
        arrays = tuple(jnp.concatenate([a, jnp.repeat(jnp.asarray(a)[-1:], pad, axis=0)]) for a in arrays)
    out = _sharded(fn, len(arrays), tuple(sorted(static.items())), devices)(*arrays)
    return jax.tree_util.tree_map(lambda a: a[:n], out) if pad else out


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
