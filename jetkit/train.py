"""One training loop for every notebook: ``fit`` (optax + flax.nnx), ``predict``, checkpoints.

>>> history = fit(model, (x_train, y_train), (x_val, y_val), loss_fn=losses.cross_entropy,
...               epochs=20, batch_size=256, learning_rate=1e-3, seed=0, patience=5)

Data is any pytree of arrays that share their leading (jet) axis: a tuple ``(x, y)``, a dict or
a :class:`jetkit.data.JetDataset`. ``loss_fn(model, batch) -> scalar`` says how a batch is
scored, so the same loop trains classifiers, autoencoders and generative models. Training is
reproducible: batches are shuffled with ``seed`` and models are built from explicit ``nnx.Rngs``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jetkit import parallel

__all__ = ["History", "cross_entropy_loss", "evaluate", "fit", "load_checkpoint", "predict",
           "save_checkpoint"]

LossFn = Callable[[nnx.Module, object], jax.Array]


@dataclasses.dataclass
class History:
    """What happened during :func:`fit` (one entry per epoch)."""

    train_loss: list[float] = dataclasses.field(default_factory=list)
    step_loss: list[float] = dataclasses.field(default_factory=list)  # every optimiser step
    val_loss: list[float] = dataclasses.field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    steps: int = 0
    stopped_early: bool = False
    examples: int = 0

    @property
    def jets_per_second(self) -> float:
        """Training throughput (examples seen per wall-clock second, compilation included)."""
        return self.examples / self.seconds if self.seconds else 0.0


def cross_entropy_loss(model: nnx.Module, batch) -> jax.Array:
    """Mean cross-entropy for ``batch = (*inputs, labels)`` with ``model(*inputs)`` -> logits.

    Logits of shape (B, 1) or (B,) are treated as binary (sigmoid); (B, C) as C classes."""
    *inputs, labels = batch
    logits = model(*inputs)
    if logits.ndim == 1 or logits.shape[-1] == 1:
        return optax.sigmoid_binary_cross_entropy(logits.reshape(-1), labels.astype(logits.dtype)).mean()
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def _length(data) -> int:
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("training data has no arrays")
    n = len(leaves[0])
    if any(len(leaf) != n for leaf in leaves):
        raise ValueError(
            f"all arrays in the data must share their first axis; got lengths "
            f"{sorted({len(leaf) for leaf in leaves})}"
        )
    return n


def _take(data, idx):
    return jax.tree_util.tree_map(lambda a: a[idx], data)


def _optimiser_step(loss_fn: LossFn, batch_size: int, sharding=None):
    """``step(graphdef, state, data, order, i) -> (state, loss)``: batch ``i`` of the epoch's
    permutation ``order``, gathered on the device from the resident ``data``, one optimiser
    update on the pure state of (model, optimizer). Shared by the scanned and the stepped loop."""

    def step(graphdef, state, data, order, i):
        idx = jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
        batch = jax.tree_util.tree_map(lambda a: jnp.take(a, idx, axis=0), data)
        if sharding is not None:
            batch = jax.lax.with_sharding_constraint(batch, sharding)
        return _update(loss_fn, graphdef, state, batch)

    return step


def _update(loss_fn: LossFn, graphdef, state, batch):
    """One optimiser update of the pure state of (model, optimizer) on ``batch``."""
    m, o = nnx.merge(graphdef, state)
    loss, grads = nnx.value_and_grad(loss_fn)(m, batch)
    o.update(m, grads)
    return nnx.split((m, o))[1], loss


@functools.lru_cache(maxsize=64)
def _epoch_program(loss_fn: LossFn, steps: int, batch_size: int, sharding=None):
    """One compiled program that runs a whole epoch: a ``lax.scan`` of :func:`_optimiser_step`
    over ``steps`` batches. Cached per (loss, steps, batch size, sharding), so repeated fits
    reuse the compilation."""
    step = _optimiser_step(loss_fn, batch_size, sharding)

    @nnx.jit
    def run_epoch(model, optimizer, data, order):
        graphdef, state = nnx.split((model, optimizer))
        state, losses = jax.lax.scan(lambda s, i: step(graphdef, s, data, order, i), state, jnp.arange(steps))
        nnx.update((model, optimizer), state)
        return losses

    return run_epoch


@functools.lru_cache(maxsize=64)
def _step_program(loss_fn: LossFn, batch_size: int, sharding=None):
    """:func:`_optimiser_step` compiled on its own (the graph definition static, the state
    donated): no flax graph is traversed in Python per step."""
    return jax.jit(_optimiser_step(loss_fn, batch_size, sharding), static_argnums=0, donate_argnums=1)


def _run_steps(loss_fn: LossFn, steps: int, batch_size: int, sharding=None, fed: bool = False):
    """An epoch as a Python loop over :func:`_step_program` (same batches as the scan). With
    ``fed`` (several JAX processes) every process instead feeds its slice of each global batch
    (:func:`jetkit.parallel.process_batch`) to one compiled update across all devices."""
    step = _fed_program(loss_fn) if fed else _step_program(loss_fn, batch_size, sharding)

    def run_epoch(model, optimizer, data, order):
        graphdef, state = nnx.split((model, optimizer))
        order_dev = None if fed else jnp.asarray(order)
        losses = []
        for i in range(steps):
            if fed:
                batch = parallel.process_batch(data, order[i * batch_size:(i + 1) * batch_size], sharding)
                state, loss = step(graphdef, state, batch)
            else:
                state, loss = step(graphdef, state, data, order_dev, i)
            losses.append(loss)
        nnx.update((model, optimizer), state)
        return jnp.stack(losses)

    return run_epoch


@functools.lru_cache(maxsize=64)
def _fed_program(loss_fn: LossFn):
    return jax.jit(functools.partial(_update, loss_fn), static_argnums=0, donate_argnums=1)


@functools.lru_cache(maxsize=16)
def _adam(learning_rate: float) -> optax.GradientTransformation:
    """One (stateless) Adam per learning rate: the optimiser is part of the compiled epoch's static
    graph, so repeated fits of one model shape reuse the compilation (a new object recompiles)."""
    return optax.adam(learning_rate)


def _has_convolution(model: nnx.Module) -> bool:
    return any(isinstance(node, nnx.Conv) for _, node in nnx.iter_graph(model))


@functools.lru_cache(maxsize=64)
def _eval_program(loss_fn: LossFn):
    @nnx.jit
    def eval_step(model, batch):
        return loss_fn(model, batch)

    return eval_step


def fit(
    model: nnx.Module,
    train,
    val=None,
    *,
    loss_fn: LossFn,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    optimizer: optax.GradientTransformation | None = None,
    seed: int = 0,
    patience: int | None = None,
    restore_best: bool = True,
    data_parallel: bool = False,
    loop: str = "auto",
    progress: bool = True,
    description: str = "training",
    on_epoch: Callable[[int, nnx.Module, History], bool | None] | None = None,
) -> History:
    """Train ``model`` in place by minimising ``loss_fn`` over mini-batches of ``train``.

    The training data are placed on the device once and every batch is gathered there. With
    ``loop="scan"`` each epoch is one compiled program (a ``lax.scan`` over the shuffled batches),
    so a step costs no Python dispatch; ``loop="step"`` runs one compiled step per batch on the
    model's pure state. ``"auto"`` takes ``"scan"`` except for convolutional models on the CPU,
    where XLA runs a convolution inside a compiled loop about 2.4x slower than as its own
    program (measured: notebook CNN, 3 epochs of 6000 images, 15.4 s scanned vs 6.4 s stepped).
    Both visit the same batches in the same order. The last ``len(train) % batch_size`` jets of
    each shuffled epoch are skipped.

    Args:
        train, val: pytrees of arrays sharing their first axis (``val`` optional).
        loss_fn: ``loss_fn(model, batch) -> scalar``; called in train mode for steps and in eval
            mode (dropout off) for validation. Pass the same function object to reuse the
            compiled epoch across calls.
        optimizer: an optax transformation; default ``optax.adam(learning_rate)``.
        seed: shuffles the batches (epoch ``e`` uses ``seed + e``); same seed, same run.
        patience: stop after this many epochs without a better validation loss (needs ``val``);
            with ``restore_best`` the best epoch's weights are put back at the end.
        data_parallel: shard each batch over all JAX devices (parameters replicated, gradients
            all-reduced by XLA); same result as one device up to float rounding. Works across
            several JAX processes too (see :mod:`jetkit.parallel`): each process then feeds its
            slice of every global batch, and the batches are the same as in one process.
        loop: ``"auto"``, ``"scan"`` or ``"step"`` (see above).
        on_epoch: ``on_epoch(epoch, model, history)`` after every epoch's validation, e.g. for
            checkpoints or a validation AUC; a true return stops training (a time limit).
    Returns:
        A :class:`History`; the model is left in eval mode.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    if patience is not None and val is None:
        raise ValueError("early stopping (patience) needs validation data")
    if loop not in ("auto", "scan", "step"):
        raise ValueError(f"loop must be 'auto', 'scan' or 'step', got {loop!r}")
    n = _length(train)
    if n < batch_size:
        raise ValueError(f"batch_size {batch_size} is larger than the training set ({n})")
    tx = optimizer if optimizer is not None else _adam(float(learning_rate))
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    steps_per_epoch = n // batch_size
    data_sharding = None
    processes = jax.process_count() if data_parallel else 1
    if data_parallel:
        data_sharding, replicated = parallel.placement(batch_size)
        nnx.update((model, opt), parallel.replicate(nnx.state((model, opt)), replicated))
        # several processes: the training set stays on each host, batches are fed per process
        train_dev = jax.device_put(train, replicated) if processes == 1 else jax.tree_util.tree_map(np.asarray, train)
    else:
        train_dev = jax.device_put(train)
    if loop == "auto":
        loop = "step" if jax.default_backend() == "cpu" and _has_convolution(model) else "scan"
    if loop == "scan" and processes == 1:
        run_epoch = _epoch_program(loss_fn, steps_per_epoch, batch_size, data_sharding)
    else:
        run_epoch = _run_steps(loss_fn, steps_per_epoch, batch_size, data_sharding, fed=processes > 1)
    eval_step = _eval_program(loss_fn)

    from tqdm.auto import tqdm

    history = History()
    best_loss, best_state, waited = np.inf, None, 0
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), desc=description, disable=not (progress and parallel.is_main_process()), leave=False)
    for epoch in bar:
        model.train()
        order = np.random.default_rng(seed + epoch).permutation(n).astype(np.int32)
        losses = run_epoch(model, opt, train_dev, order)
        history.step_loss.extend(np.asarray(losses, dtype=np.float64).tolist())
        history.train_loss.append(float(jnp.mean(losses)))
        history.steps += steps_per_epoch
        history.examples += steps_per_epoch * batch_size
        postfix = {"loss": f"{history.train_loss[-1]:.4f}"}
        if val is not None:
            model.eval()
            history.val_loss.append(evaluate(model, val, loss_fn, batch_size, eval_step))
            postfix["val"] = f"{history.val_loss[-1]:.4f}"
            if history.val_loss[-1] < best_loss:
                best_loss, history.best_epoch, waited = history.val_loss[-1], epoch, 0
                if restore_best:
                    best_state = jax.tree_util.tree_map(jnp.copy, nnx.state(model))
            else:
                waited += 1
        bar.set_postfix(postfix)
        stop = on_epoch is not None and bool(on_epoch(epoch, model, history))
        if stop or (patience is not None and waited >= patience):
            history.stopped_early = True
            break
    bar.close()
    if best_state is not None:
        nnx.update(model, best_state)
    if val is None:
        history.best_epoch = len(history.train_loss) - 1
    model.eval()
    history.seconds = time.perf_counter() - t0
    return history


def evaluate(model: nnx.Module, data, loss_fn: LossFn, batch_size: int = 1024, _step=None) -> float:
    """Mean of ``loss_fn`` over ``data`` (batches weighted by their size), in eval mode."""
    step = _step or _eval_program(loss_fn)
    model.eval()
    n = _length(data)
    total = 0.0
    for start in range(0, n, batch_size):
        batch = _take(data, slice(start, start + batch_size))
        total += float(step(model, batch)) * _length(batch)
    return total / n


@nnx.jit
def _forward(model, xs):
    return model(*xs)


def _first_layer_width(model: nnx.Module) -> int | None:
    """Input width of the first Linear/Conv layer of ``model`` (None if it has none)."""
    for _, node in nnx.iter_graph(model):
        if isinstance(node, (nnx.Linear, nnx.Conv)):
            return int(node.in_features)
    return None


def _misfit(model: nnx.Module, xs: tuple, err: TypeError) -> ValueError:
    """The ValueError for inputs whose shapes made tracing ``model(*xs)`` fail, naming the widths."""
    width = _first_layer_width(model)
    got = np.shape(xs[0])[-1] if xs and np.ndim(xs[0]) else None
    if width is not None and got is not None and got != width:
        return ValueError(
            f"the inputs have feature width {got}, but the model's first layer expects {width} "
            f"(inputs of shape {tuple(np.shape(xs[0]))}); prepare the inputs the model was built for")
    return ValueError(f"the inputs do not fit the model: {err}")


def predict(model: nnx.Module, *inputs, batch_size: int = 2048) -> np.ndarray:
    """Run ``model(*inputs)`` in eval mode over batches; returns a numpy array.

    Every batch has the same shape (the last one is padded and the padding dropped), so the
    forward pass compiles once per model and input shape. Inputs that do not fit the model raise
    a ValueError that names the widths."""
    model.eval()
    n = _length(inputs)
    if n == 0:
        raise ValueError("predict() needs at least one example")
    size = min(batch_size, n)
    outs = []
    for s in range(0, n, size):
        batch = _take(inputs, slice(s, s + size))
        m = _length(batch)
        if m < size:  # pad with copies of the first row: same compiled shape
            batch = jax.tree_util.tree_map(
                lambda a: np.concatenate([np.asarray(a), np.repeat(np.asarray(a)[:1], size - m, 0)]), batch)
        try:
            outs.append(np.asarray(_forward(model, batch))[:m])
        except TypeError as err:  # raised while tracing: shapes that do not fit the model
            raise _misfit(model, batch, err) from err
    return np.concatenate(outs)


def _flat_params(model: nnx.Module) -> dict[str, np.ndarray]:
    flat = nnx.to_flat_state(nnx.state(model, nnx.Not(nnx.RngState)))  # not random streams (dropout keys)
    return {"/".join(str(k) for k in path): np.asarray(var.get_value()) for path, var in flat}


def save_checkpoint(model: nnx.Module, path: str | Path, metadata: dict | None = None) -> Path:
    """Save every variable of ``model`` (parameters and e.g. batch statistics) to ``path``
    (.npz, byte-reproducible) with optional JSON-serialisable ``metadata``. With several JAX
    processes only process 0 writes."""
    from jetkit.data.files import save_npz

    arrays = _flat_params(model)
    arrays["__metadata__"] = np.array(json.dumps(metadata or {}, sort_keys=True))
    path = Path(path)
    if parallel.is_main_process():  # one writer when several JAX processes train together
        save_npz(path, arrays)
    return path


def load_checkpoint(model: nnx.Module, path: str | Path) -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model`` (same architecture).

    Returns the metadata. Raises FileNotFoundError for a missing file and ValueError when the
    checkpoint's variables do not match the model's names or shapes."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} not found")
    with np.load(path) as f:
        saved = {k: f[k] for k in f.files}
    metadata = json.loads(str(saved.pop("__metadata__", "{}")))
    flat = nnx.to_flat_state(nnx.state(model, nnx.Not(nnx.RngState)))
    expected = {"/".join(str(k) for k in p): v for p, v in flat}
    missing, extra = set(expected) - set(saved), set(saved) - set(expected)
    if missing or extra:
        raise ValueError(
            f"checkpoint {path.name} does not fit this model: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(extra)[:5]}"
        )
    for key, var in expected.items():
        current = var.get_value()
        if saved[key].shape != np.shape(current):
            raise ValueError(f"{key}: checkpoint shape {saved[key].shape} != model {np.shape(current)}")
        var.set_value(jnp.asarray(saved[key], dtype=current.dtype))
    nnx.update(model, nnx.from_flat_state(flat))
    return metadata
