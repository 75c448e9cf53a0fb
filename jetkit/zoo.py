"""The model zoo: pretrained models as a first-class API, each with the exact inputs it was trained
on and the command that retrains it from fixed seeds.

>>> from jetkit import zoo
>>> zoo.available()                                   # names in data/checkpoints/MANIFEST.json
>>> model, prepare = zoo.load("edgeconv_top_qcd")     # verifies the sha256 first
>>> scores = train.predict(model, *prepare(test.particles, test.mask))
>>> zoo.retrain_command("edgeconv_top_qcd")           # or: python -m jetkit.zoo train NAME

Every entry of ``data/checkpoints/MANIFEST.json`` records the file's sha256 and size, the training
command and the checkpoint's metadata (settings, seeds, epochs, validation metric) and, under
``"zoo"``, the builder, the inputs, the dataset and split, and a **check**: a metric of the model
on a fixed subset of its test split (``zoo.check(name)`` recomputes it; the tests require the
recorded value to 1e-4). A model is only loaded when its file matches the recorded sha256; a
missing or modified file raises an error that names the command that recreates it.

CLI::

    python -m jetkit.zoo list
    python -m jetkit.zoo train edgeconv_top_qcd      # runs the recorded command (minutes to hours)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from jetkit.data.files import sha256_file
from jetkit.data.specs import DATA_DIR

__all__ = ["ZOO_DIR", "available", "check", "describe", "load", "main", "record", "retrain_command", "train"]

ZOO_DIR = DATA_DIR / "checkpoints"
ROOT = DATA_DIR.parent


@dataclasses.dataclass(frozen=True)
class _Recipe:
    """How to rebuild one zoo model: its architecture, its inputs and its check."""

    build: Callable[[dict], nnx.Module]  # checkpoint metadata -> model of the same architecture
    prepare: Callable[[dict], Callable]  # metadata -> prepare(particles, mask) -> model inputs
    check: Callable[[nnx.Module, Callable], float]  # the recorded metric on a fixed test subset


# ------------------------------------------------------------------------------ the recipes


def _edgeconv(meta: dict) -> nnx.Module:
    from jetkit.models import gnn

    return gnn.fast_edgeconv(nnx.Rngs(meta.get("seed", 0)))


def _edgeconv_prepare(meta: dict) -> Callable:
    from jetkit.models.taggers import inputs

    return inputs("particles", int(meta["n_particles"]))  # features and mask of the leading constituents


def _tagger(meta: dict) -> nnx.Module:
    """The tagger without its train-time augmentation layer (the identity in eval mode, and with a
    random stream the checkpoint does not hold): the same outputs, and it loads abstractly."""
    from jetkit.models.taggers import build

    return build({**meta, "kwargs": {k: v for k, v in meta["kwargs"].items() if k != "augment"}})


def _tagger_prepare(meta: dict) -> Callable:
    from jetkit.models.taggers import inputs

    scaler = (meta["scaler_mean"], meta["scaler_scale"]) if "scaler_mean" in meta else None
    return inputs(meta["inputs"], int(meta["n_particles"]), scaler)


def _tagger_check(model, prepare) -> float:
    """AUC on the first 2000 jets of the top_qcd test split (split seed 0)."""
    from jetkit import data, metrics, train

    test = data.split(data.load("top_qcd"), seed=0).test[np.arange(2000)]
    xs = prepare(test)  # every tagger's prepare takes a JetDataset
    return float(metrics.auc(test.labels, train.predict(model, *xs).reshape(-1)))


def _flow(meta: dict) -> nnx.Module:
    from jetkit.models.generative_training import build_flow

    return build_flow(meta)


def _flow_prepare(meta: dict) -> Callable:
    import functools

    from jetkit.models import generative
    from jetkit.models.generative_training import gluon_splits

    @functools.cache
    def standardiser():  # fitted on the training split at the first call, not at load
        return gluon_splits(meta.get("class_name", "g"), meta.get("split_seed", 0))[1]

    def prepare(particles, mask):
        """(standardised flattened constituents, slot mask, condition) as in training."""
        return generative.model_inputs(particles, mask, standardiser(), with_mass=bool(meta.get("with_mass")))

    prepare.standardiser = standardiser
    return prepare


def _flow_check(model, prepare) -> float:
    """Flow-matching loss on the first 1000 test gluon jets, with noise and times from key 0."""
    import jax
    import jax.numpy as jnp

    from jetkit.models.generative_training import gluon_splits

    (_, _, test), _ = gluon_splits()
    x1, slot, cond = (jnp.asarray(a) for a in prepare(test.particles[:1000], test.mask[:1000]))
    k0, kt = jax.random.split(jax.random.PRNGKey(0))
    x0, t = jax.random.normal(k0, x1.shape), jax.random.uniform(kt, (x1.shape[0],))
    xt = (1 - t[:, None]) * x0 + t[:, None] * (x1 * slot)
    v = nnx.jit(lambda m, a, b, c: m(a, b, c))(model, xt, t, cond)
    return float(jnp.mean(jnp.sum(slot * (v - (x1 * slot - x0)) ** 2, -1)))


def _cloud(meta: dict) -> nnx.Module:
    from jetkit.models.generative_training import build_cloud

    return build_cloud(meta)


def _cloud_prepare(meta: dict) -> Callable:
    from jetkit.models.generative_training import cloud_standardiser
    from jetkit.models.particle_cloud import cloud_inputs

    standardiser = cloud_standardiser(meta)

    def prepare(particles, mask):
        """(standardised particles, mask, multiplicity / P) as in training."""
        return cloud_inputs(particles, mask, standardiser)

    prepare.standardiser = standardiser
    return prepare


def _cloud_check(model, prepare) -> float:
    """Flow-matching loss on the first 1000 test gluon jets, with noise and times from key 0."""
    import jax

    from jetkit.models.generative_training import gluon_splits
    from jetkit.models.particle_cloud import cloud_flow_loss

    (_, _, test), _ = gluon_splits()
    batch = prepare(test.particles[:1000], test.mask[:1000])
    model = nnx.clone(model)
    model.noise.set_value(jax.random.PRNGKey(0))
    return float(nnx.jit(cloud_flow_loss)(model, batch))


def _fpga_prepare(meta: dict) -> Callable:
    from jetkit.fpga.network import Standardizer

    scaler = Standardizer(np.asarray(meta["scaler_mean"], np.float32), np.asarray(meta["scaler_scale"], np.float32))

    def prepare(hlf, mask=None):
        """(standardised features,) of a dataset with ``hlf`` (jet5) or of its (N, 16) ``hlf``
        array (computed on all constituents: the 30 stored particles cannot rebuild them)."""
        return (scaler(getattr(hlf, "hlf", hlf)),)

    prepare.scaler = scaler
    return prepare


def _fpga_check(model, prepare) -> float:
    """Mean over members of the accuracy on the first 2000 jets of the jet5 test split (split seed 0)."""
    from jetkit import data

    test = data.split(data.load("jet5"), seed=0).test[np.arange(2000)]
    logits = model.predict(*prepare(test))
    return float((logits.argmax(-1) == np.asarray(test.labels)[:, None]).mean())


def _fpga_build(kind: str) -> Callable[[dict], nnx.Module]:
    def build(meta: dict) -> nnx.Module:
        from jetkit.fpga import training

        return training.build_qat(meta) if kind == "qat" else training.build_hgq(meta)

    return build


def _jetclr(meta: dict) -> nnx.Module:
    from jetkit.models.self_supervised_training import build

    return build(meta)


def _jetclr_prepare(meta: dict) -> Callable:
    def prepare(particles, mask):
        """(particles, mask) as shipped: the model keeps the hardest ``size`` constituents itself."""
        return np.asarray(particles, np.float32), np.asarray(mask, bool)

    return prepare


def _jetclr_check(model, prepare) -> float:
    """NT-Xent loss of two augmented views (keys 1 and 2) of the first 1024 top_qcd test jets."""
    import jax

    from jetkit import data
    from jetkit.models.contrastive import nt_xent
    from jetkit.models.self_supervised import view

    test = data.split(data.load("top_qcd"), seed=0).test[np.arange(1024)]
    p, m = prepare(test.particles, test.mask)
    options = dict(model.augmentation)
    (p1, m1), (p2, m2) = (view(jax.random.PRNGKey(k), p, m, options) for k in (1, 2))
    z = nnx.jit(lambda mod, a, b: mod(a, b))(model, np.concatenate([p1, p2]), np.concatenate([m1, m2]))
    return float(nt_xent(z[:1024], z[1024:], model.temperature))


_RECIPES: dict[str, _Recipe] = {
    "qat_jet5": _Recipe(_fpga_build("qat"), _fpga_prepare, _fpga_check),
    "hgq_jet5": _Recipe(_fpga_build("hgq"), _fpga_prepare, _fpga_check),
    "edgeconv_top_qcd": _Recipe(_edgeconv, _edgeconv_prepare, _tagger_check),
    "deepsets_top_qcd": _Recipe(_tagger, _tagger_prepare, _tagger_check),
    "mlp7_top_qcd": _Recipe(_tagger, _tagger_prepare, _tagger_check),
    "expert_mlp_top_qcd": _Recipe(_tagger, _tagger_prepare, _tagger_check),
    "expert_bdt_top_qcd": _Recipe(_tagger, _tagger_prepare, _tagger_check),
    "cnn_top_qcd": _Recipe(_tagger, _tagger_prepare, _tagger_check),
    "particlenet_top_qcd": _Recipe(_tagger, _tagger_prepare, _tagger_check),
    "lorentznet_top_qcd": _Recipe(_tagger, _tagger_prepare, _tagger_check),
    "part_top_qcd": _Recipe(_tagger, _tagger_prepare, _tagger_check),
    "flow_matching_gluon": _Recipe(_flow, _flow_prepare, _flow_check),
    "flow_matching_gluon_mass": _Recipe(_flow, _flow_prepare, _flow_check),
    "particle_cloud_gluon": _Recipe(_cloud, _cloud_prepare, _cloud_check),
    "particle_cloud_gluon_reflow": _Recipe(_cloud, _cloud_prepare, _cloud_check),
    "jetclr_top_qcd": _Recipe(_jetclr, _jetclr_prepare, _jetclr_check),
}


# ------------------------------------------------------------------------------ the API


def _manifest(zoo_dir: Path) -> dict:
    path = Path(zoo_dir) / "MANIFEST.json"
    return json.loads(path.read_text()) if path.exists() else {}


def available(zoo_dir: str | Path = ZOO_DIR) -> list[str]:
    """Names of the zoo models recorded in the manifest."""
    return sorted(n for n in _manifest(Path(zoo_dir)) if n in _RECIPES)


def describe(name: str, zoo_dir: str | Path = ZOO_DIR) -> dict:
    """The manifest entry of one model (sha256, command, metadata, inputs, dataset, check)."""
    entries = _manifest(Path(zoo_dir))
    if name not in entries or name not in _RECIPES:
        raise ValueError(f"unknown zoo model {name!r}; available: {', '.join(available(zoo_dir))}")
    return entries[name]


def retrain_command(name: str, zoo_dir: str | Path = ZOO_DIR) -> str:
    """The command (run from the repository root) that retrains ``name`` from fixed seeds."""
    return describe(name, zoo_dir)["command"]


def load(name: str, zoo_dir: str | Path = ZOO_DIR, *, verify: bool = True):
    """``(model, prepare)``: the pretrained model in eval mode and ``prepare(particles, mask)``,
    which makes exactly the inputs it was trained on (a tuple to unpack into the model).

    Raises ValueError for an unknown name, FileNotFoundError for a missing file and OSError for a
    file whose sha256 differs from the manifest's; both errors name the retrain command."""
    from jetkit import train

    entry = describe(name, zoo_dir)
    path = Path(zoo_dir) / entry["file"]
    hint = f"Retrain it with: {entry['command']} (python -m jetkit.zoo train {name})"
    if not path.exists():
        raise FileNotFoundError(f"zoo checkpoint {path} is missing. {hint}")
    if verify and sha256_file(path) != entry["sha256"]:
        raise OSError(f"checksum mismatch for {path}: the file is corrupt or was modified "
                      f"(expected sha256 {entry['sha256'][:12]}...). {hint}")
    recipe = _RECIPES[name]
    model = _build_and_load(recipe, entry["metadata"], path)
    model.eval()
    return model, recipe.prepare(entry["metadata"])


def _build_and_load(recipe: _Recipe, meta: dict, path: Path) -> nnx.Module:
    """The model with the checkpoint's weights. It is built abstractly (shapes only, no random
    initialisation: seconds of eager JAX calls for a large net) and filled from the file; a model
    whose construction needs concrete values, or with variables the file does not hold (e.g.
    random-number streams), is built in full instead."""
    from jetkit import train

    try:
        model = nnx.eval_shape(lambda: recipe.build(meta))
    except _NEEDS_VALUES:
        model = None
    if model is not None:
        train.load_checkpoint(model, path)
        if not any(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree_util.tree_leaves(nnx.state(model))):
            return model
    model = recipe.build(meta)
    train.load_checkpoint(model, path)
    return model


# errors of a model construction that reads values, raised when it is only traced
_NEEDS_VALUES = (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError,
                 jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError)


def check(name: str, zoo_dir: str | Path = ZOO_DIR) -> float:
    """Recompute the metric recorded under ``manifest[name]["zoo"]["check"]`` (see its
    ``"what"``) for the loaded model."""
    model, prepare = load(name, zoo_dir)
    return _RECIPES[name].check(model, prepare)


def train(name: str, zoo_dir: str | Path = ZOO_DIR) -> int:
    """Retrain ``name`` with its recorded command (from the repository root, into the shipped
    file) and, if it succeeds, :func:`record` the new checkpoint; returns the exit code."""
    command = retrain_command(name, zoo_dir)
    words = shlex.split(command)
    rc = subprocess.call([sys.executable, *words[1:]] if words[0] == "python" else words, cwd=ROOT)
    if rc == 0:
        record(Path(zoo_dir) / describe(name, zoo_dir)["file"], command)
        recorded = describe(name, zoo_dir).get("zoo", {}).get("check", {}).get("value")
        print(f"retrained {name}; its check is now {check(name, zoo_dir):.6f} (recorded before: {recorded})")
    return rc


def record(path: str | Path, command: str) -> dict:
    """Write (or update) the manifest entry of a checkpoint a training script just saved with
    :func:`jetkit.train.save_checkpoint`: file, sha256, bytes, the command and the checkpoint's
    metadata. The entry's ``"zoo"`` section (inputs, dataset, check) is kept; rerun
    :func:`check` and update its value if the weights changed. Returns the entry."""
    import os

    path = Path(path)
    with np.load(path) as f:
        metadata = json.loads(str(f["__metadata__"])) if "__metadata__" in f.files else {}
    manifest_path = path.parent / "MANIFEST.json"
    manifest = _manifest(path.parent)
    entry = {**manifest.get(path.stem, {}), "file": path.name, "sha256": sha256_file(path),
             "bytes": path.stat().st_size, "command": command, "metadata": metadata}
    manifest[path.stem] = entry
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, manifest_path)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jetkit.zoo", description="The jetkit model zoo.")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="the models, their checks and retrain commands")
    retrain = sub.add_parser("train", help="retrain a model with its recorded command")
    retrain.add_argument("name", choices=available())
    args = parser.parse_args(argv)
    if args.action == "list":
        for name in available():
            entry = describe(name)
            ck = entry.get("zoo", {}).get("check", {})
            print(f"{name}: {entry.get('zoo', {}).get('summary', '')}\n  check: {ck.get('what', '?')} = "
                  f"{ck.get('value', '?')}\n  retrain: {entry['command']}")
        return 0
    return train(args.name)


if __name__ == "__main__":
    raise SystemExit(main())
