"""Train the zoo's FPGA taggers on the 16 hls4ml features of ``jet5``: uniform QAT with pruning
(one float member, one per bit width, pruned 6- and 4-bit ones) and learned precision (HGQ, one
member per EBOPs weight beta). Both start from the same float MLP (16 -> 64 -> 32 -> 32 -> 5).

    python -m jetkit.fpga.training qat       # data/checkpoints/qat_jet5.npz
    python -m jetkit.fpga.training hgq       # data/checkpoints/hgq_jet5.npz

Then ``python -m jetkit.zoo train qat_jet5`` (which runs the same command) records the checkpoint
in the zoo manifest. Split: ``jetkit.data.split(jet5, seed=0)``; features standardised with the
training split's mean and width (stored in the checkpoint's metadata).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from flax import nnx

from jetkit.fpga.hgq import HGQMLP, hgq_loss
from jetkit.fpga.network import Standardizer
from jetkit.fpga.qat import QMLP, QuantConfig, ensemble_loss

__all__ = ["BETAS", "HIDDEN", "QAT_MEMBERS", "build_hgq", "build_qat", "features", "float_mlp", "main"]

HIDDEN = (64, 32, 32)
BATCH = 512
#: uniform members: (name, bits or None for float, target sparsity)
QAT_MEMBERS = (("float", None, 0.0), ("16 bit", 16, 0.0), ("8 bit", 8, 0.0), ("6 bit", 6, 0.0),
               ("5 bit", 5, 0.0), ("4 bit", 4, 0.0), ("3 bit", 3, 0.0),
               ("6 bit 50% pruned", 6, 0.5), ("6 bit 75% pruned", 6, 0.75),
               ("6 bit 90% pruned", 6, 0.9), ("4 bit 50% pruned", 4, 0.5),
               ("4 bit 75% pruned", 4, 0.75))
#: EBOPs weights of the HGQ members (the penalty is beta * EBOPs next to a cross-entropy ~0.8)
BETAS = (3e-7, 1e-6, 2e-6, 4e-6, 8e-6, 1.6e-5, 3.2e-5, 6.4e-5)


def features(split_seed: int = 0):
    """``(x_train, y_train), (x_val, y_val), (x_test, y_test), scaler`` of jet5's features."""
    from jetkit import data

    train_set, val_set, test_set = data.split(data.load("jet5"), seed=split_seed)
    scaler = Standardizer.fit(train_set.hlf)
    return (*((scaler(s.hlf), np.asarray(s.labels, np.int32)) for s in (train_set, val_set, test_set)),
            scaler)


def float_mlp(train, val, epochs: int = 60, seed: int = 0):
    """The float MLP both recipes start from (Adam 2e-3, batch 512, best validation epoch)."""
    from jetkit import train as fit_
    from jetkit.models import MLP

    mlp = MLP(16, 5, hidden=HIDDEN, rngs=nnx.Rngs(seed))
    fit_.fit(mlp, train, val, loss_fn=fit_.cross_entropy_loss, epochs=epochs, batch_size=BATCH,
             learning_rate=2e-3, seed=seed, description="float MLP")
    return mlp


def build_qat(meta: dict) -> QMLP:
    """An (untrained) QMLP with the checkpoint's members; precisions come with the weights."""
    return QMLP(16, 5, tuple(meta.get("hidden", HIDDEN)), members=len(meta["members"]), rngs=nnx.Rngs(0))


def build_hgq(meta: dict) -> HGQMLP:
    """An (untrained) HGQMLP of the checkpoint's shape and settings."""
    return HGQMLP(16, 5, tuple(meta.get("hidden", HIDDEN)), members=len(meta["betas"]),
                  bit_scale=float(meta["bit_scale"]), bias_frac=int(meta["bias_frac"]),
                  rngs=nnx.Rngs(0))


def _qat(mlp, train, val, epochs: int) -> tuple[QMLP, dict]:
    model = QMLP.from_float(mlp, members=len(QAT_MEMBERS))
    for e, (_, bits, _) in enumerate(QAT_MEMBERS):
        model.configure(QuantConfig(bits or 16, quantized=bits is not None), member=e)
    steps = epochs * (len(train[0]) // BATCH)
    model.schedule_pruning([s for *_, s in QAT_MEMBERS], begin_step=0, end_step=steps // 2)
    from jetkit import train as fit_

    fit_.fit(model, train, val, loss_fn=ensemble_loss, epochs=epochs, batch_size=BATCH,
             learning_rate=1e-3, seed=1, restore_best=False, description="uniform QAT + pruning")
    return model, {"members": [m[0] for m in QAT_MEMBERS], "bits": [m[1] for m in QAT_MEMBERS],
                   "sparsity": [m[2] for m in QAT_MEMBERS]}


def _hgq(mlp, train, val, epochs: int, betas=BETAS, bit_scale: float = 10.0,
         bias_frac: int = 8, quantile: float = 0.999, finetune: int | None = None) -> tuple[HGQMLP, dict]:
    """HGQ for ``epochs`` (beta ramped up over the first half), then ``finetune`` epochs (default
    epochs // 3) with the bit widths frozen and no EBOPs term: the weights settle on their grids."""
    model = HGQMLP.from_float(mlp, members=len(betas), bit_scale=bit_scale, bias_frac=bias_frac)
    model.calibrate(train[0], quantile)  # larger values saturate
    steps = epochs * (len(train[0]) // BATCH)
    model.set_beta(list(betas), ramp_steps=steps // 2)
    from jetkit import train as fit_

    fit_.fit(model, train, val, loss_fn=hgq_loss, epochs=epochs, batch_size=BATCH,
             learning_rate=1e-3, seed=2, restore_best=False, description="HGQ")
    finetune = epochs // 3 if finetune is None else finetune
    if finetune:
        model.bits_frozen = True
        model.set_beta(0.0, ramp_steps=1)
        fit_.fit(model, train, val, loss_fn=hgq_loss, epochs=finetune, batch_size=BATCH,
                 learning_rate=3e-4, seed=3, restore_best=False, description="HGQ fine-tune")
        model.bits_frozen = False
    return model, {"betas": list(betas), "bit_scale": bit_scale, "bias_frac": bias_frac,
                   "calibration_quantile": quantile, "finetune_epochs": finetune}


def evaluate(model, x, y, export) -> list[dict]:
    """Per member: test accuracy of the integer emulation of the exported network, and its cost."""
    from jetkit.fpga import cost
    from jetkit.fpga.network import emulate
    from jetkit.metrics import accuracy

    out = []
    for e in range(model.members):
        net = export(e)
        if net is None:  # the float member
            out.append({"accuracy": accuracy(y, model.predict(x)[:, e])})
            continue
        c = cost.estimate(net)
        out.append({"accuracy": accuracy(y, emulate(net, x)), "ebops": c.ebops, "lut": c.lut,
                    "dsp": c.dsp, "latency_ns": c.latency_ns, "multiplications": c.n_mult})
    return out


def main(argv: list[str] | None = None) -> int:
    from jetkit import train as fit_
    from jetkit.data.specs import DATA_DIR
    from jetkit.metrics import accuracy

    parser = argparse.ArgumentParser(prog="python -m jetkit.fpga.training", description=__doc__.split("\n")[0])
    parser.add_argument("recipe", choices=["qat", "hgq"])
    parser.add_argument("--float-epochs", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    train, val, test, scaler = features()
    mlp = float_mlp(train, val, args.float_epochs)
    float_acc = accuracy(test[1], fit_.predict(mlp, test[0]))
    if args.recipe == "qat":
        model, meta = _qat(mlp, train, val, args.epochs)
        quantized = np.asarray(model.quantized.get_value())
        results = evaluate(model, *test, lambda e: model.export(e) if quantized[e] else None)
    else:
        model, meta = _hgq(mlp, train, val, args.epochs)
        results = evaluate(model, *test, model.export)
    meta.update({"hidden": list(HIDDEN), "float_epochs": args.float_epochs, "epochs": args.epochs,
                 "batch_size": BATCH, "split_seed": 0, "float_test_accuracy": float_acc,
                 "scaler_mean": scaler.mean.tolist(), "scaler_scale": scaler.scale.tolist(),
                 "test": results, "wall_seconds": round(time.perf_counter() - t0, 1)})
    out = args.out or DATA_DIR / "checkpoints" / f"{args.recipe}_jet5.npz"
    fit_.save_checkpoint(model, out, meta)
    print(f"float test accuracy {float_acc:.4f}; wrote {out} in {meta['wall_seconds']:.0f} s")
    for name, r in zip(meta.get("members", [f"beta {b:g}" for b in meta.get("betas", [])]), results):
        print(f"  {name:>18}: accuracy {r['accuracy']:.4f}  EBOPs {r.get('ebops', '-')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
