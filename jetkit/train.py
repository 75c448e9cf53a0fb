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
import json
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

__all__ = ["History", "cross_entropy_loss", "evaluate", "fit", "load_checkpoint", "predict",
           "save_checkpoint"]

LossFn = Callable[[nnx.Module, object], jax.Array]


@dataclasses.dataclass
class History:
    """What happened during :func:`fit` (one entry per epoch)."""

    train_loss: list[float] = dataclasses.field(default_factory=list)
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


def _make_steps(loss_fn: LossFn):
    @nnx.jit
    def train_step(model, optimizer, batch):
        loss, grads = nnx.value_and_grad(loss_fn)(model, batch)
        optimizer.update(model, grads)
        return loss

    @nnx.jit
    def eval_step(model, batch):
        return loss_fn(model, batch)

    return train_step, eval_step


def _data_parallel_placement(batch_size: int):
    """Shardings for data-parallel training over every local device (replicated parameters)."""
    from jax.sharding import NamedSharding, PartitionSpec

    n_dev = jax.device_count()
    if batch_size % n_dev:
        raise ValueError(f"batch_size {batch_size} must be divisible by the {n_dev} devices")
    mesh = jax.make_mesh((n_dev,), ("data",))
    return NamedSharding(mesh, PartitionSpec("data")), NamedSharding(mesh, PartitionSpec())


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
    progress: bool = True,
    description: str = "training",
) -> History:
    """Train ``model`` in place by minimising ``loss_fn`` over mini-batches of ``train``.

    Args:
        train, val: pytrees of arrays sharing their first axis (``val`` optional).
        loss_fn: ``loss_fn(model, batch) -> scalar``; called in train mode for steps and in eval
            mode (dropout off) for validation.
        optimizer: an optax transformation; default ``optax.adam(learning_rate)``.
        seed: shuffles the batches (epoch ``e`` uses ``seed + e``); same seed, same run.
        patience: stop after this many epochs without a better validation loss (needs ``val``);
            with ``restore_best`` the best epoch's weights are put back at the end.
        data_parallel: shard each batch over all JAX devices (parameters replicated, gradients
            all-reduced by XLA); same result as one device up to float rounding.
    Returns:
        A :class:`History`; the model is left in eval mode.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    if patience is not None and val is None:
        raise ValueError("early stopping (patience) needs validation data")
    n = _length(train)
    if n < batch_size:
        raise ValueError(f"batch_size {batch_size} is larger than the training set ({n})")
    tx = optimizer if optimizer is not None else optax.adam(learning_rate)
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    train_step, eval_step = _make_steps(loss_fn)
    place = lambda b: b  # noqa: E731
    if data_parallel:
        data_sharding, replicated = _data_parallel_placement(batch_size)
        state = nnx.state((model, opt))
        nnx.update((model, opt), jax.device_put(state, replicated))
        place = lambda b: jax.device_put(b, data_sharding)  # noqa: E731

    from tqdm.auto import tqdm

    history = History()
    best_loss, best_state, waited = np.inf, None, 0
    steps_per_epoch = n // batch_size
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), desc=description, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = np.random.default_rng(seed + epoch).permutation(n)
        losses = []
        for s in range(steps_per_epoch):
            batch = place(_take(train, order[s * batch_size : (s + 1) * batch_size]))
            losses.append(train_step(model, opt, batch))
        history.train_loss.append(float(jnp.mean(jnp.stack(losses))))
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
        if patience is not None and waited >= patience:
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
    step = _step or _make_steps(loss_fn)[1]
    model.eval()
    n = _length(data)
    total = 0.0
    for start in range(0, n, batch_size):
        batch = _take(data, slice(start, start + batch_size))
        total += float(step(model, batch)) * _length(batch)
    return total / n


def predict(model: nnx.Module, *inputs, batch_size: int = 2048) -> np.ndarray:
    """Run ``model(*inputs)`` in eval mode over batches; returns a numpy array."""
    model.eval()
    n = _length(inputs)

    @nnx.jit
    def forward(m, xs):
        return m(*xs)

    outs = [np.asarray(forward(model, _take(inputs, slice(s, s + batch_size))))
            for s in range(0, n, batch_size)]
    return np.concatenate(outs)


def _flat_params(model: nnx.Module) -> dict[str, np.ndarray]:
    flat = nnx.to_flat_state(nnx.state(model))
    return {"/".join(str(k) for k in path): np.asarray(var.get_value()) for path, var in flat}


def save_checkpoint(model: nnx.Module, path: str | Path, metadata: dict | None = None) -> Path:
    """Save every variable of ``model`` (parameters and e.g. batch statistics) to ``path``
    (.npz, byte-reproducible) with optional JSON-serialisable ``metadata``."""
    from jetkit.data.files import save_npz

    arrays = _flat_params(model)
    arrays["__metadata__"] = np.array(json.dumps(metadata or {}, sort_keys=True))
    path = Path(path)
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
    flat = nnx.to_flat_state(nnx.state(model))
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
