"""One process of a multi-process data-parallel training run (used by tests/test_scale_out.py).

    python tests/scale_out_worker.py OUT_DIR NUM_PROCESSES PROCESS_ID PORT

With NUM_PROCESSES = 1 it is the single-process reference (same global batches, no
jax.distributed). Writes the per-step losses and a checkpoint (process 0 only)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    out, n_proc, pid, port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    from jetkit import parallel

    if n_proc > 1:
        parallel.initialize(f"127.0.0.1:{port}", n_proc, pid)
    from flax import nnx

    from jetkit import train
    from jetkit.models.mlp import MLP

    rng = np.random.default_rng(0)
    x = rng.normal(size=(640, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + 0.3 * rng.normal(size=640) > 0).astype(np.int32)
    model = MLP(6, 2, (32, 32), rngs=nnx.Rngs(0))
    history = train.fit(model, (x, y), (x[:128], y[:128]), loss_fn=train.cross_entropy_loss, epochs=3,
                        batch_size=64, learning_rate=3e-3, data_parallel=n_proc > 1, progress=False)
    train.save_checkpoint(model, out / f"model-{n_proc}-{pid}.npz", {"processes": n_proc})
    (out / f"losses-{n_proc}-{pid}.json").write_text(json.dumps(
        {"step_loss": history.step_loss, "val_loss": history.val_loss,
         "prediction": train.predict(model, x[:16]).tolist()}))


if __name__ == "__main__":
    main()
