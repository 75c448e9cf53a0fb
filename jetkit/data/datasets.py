"""Load the shipped jet datasets, verify them, split them and batch them.

>>> from jetkit import data
>>> jets = data.load("top_qcd")          # checks the sha256 in data/MANIFEST.json
>>> train, val, test = data.split(jets, seed=0)
>>> for batch in data.batches(train, 256, seed=0): ...

Arrays follow docs/DESIGN.md (data format): ``particles`` (N, P, 3) = (pT [GeV], d_eta, d_phi) relative to the jet
axis, zero-padded and pT-ordered; ``mask`` (N, P); ``jets`` (N, 4) = (pT [GeV], eta, phi [rad],
m [GeV]); ``labels`` (N,); ``n_constituents`` (N,) the full multiplicity before truncation;
``hlf`` (N, 16) where the dataset has high-level features.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from jetkit.data.files import read_manifest, sha256_file
from jetkit.data.specs import DATA_DIR, DATASETS

__all__ = ["JetDataset", "Splits", "available", "batches", "load", "one_vs_background", "regenerate_command",
           "split"]


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["particles", "mask", "jets", "labels", "n_constituents", "hlf"],
    meta_fields=["name", "class_names", "hlf_names"],
)
@dataclasses.dataclass(frozen=True)
class JetDataset:
    """A set of jets; a JAX pytree (arrays are leaves, names are static)."""

    particles: np.ndarray
    mask: np.ndarray
    jets: np.ndarray
    labels: np.ndarray
    n_constituents: np.ndarray
    hlf: np.ndarray | None = None
    name: str = ""
    class_names: tuple[str, ...] = ()
    hlf_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index) -> JetDataset:
        """Select jets with an integer array, a boolean mask or a slice."""
        return jax.tree_util.tree_map(lambda a: a[index], self)

    def of_class(self, *names: str) -> JetDataset:
        """Only the jets of the named classes (labels keep their original values)."""
        unknown = [n for n in names if n not in self.class_names]
        if unknown:
            raise ValueError(f"unknown class {unknown}; this dataset has {list(self.class_names)}")
        codes = [self.class_names.index(n) for n in names]
        return self[np.isin(self.labels, codes)]

    def counts(self) -> dict[str, int]:
        """Number of jets per class name."""
        return {n: int((self.labels == i).sum()) for i, n in enumerate(self.class_names)}


class Splits(NamedTuple):
    train: JetDataset
    val: JetDataset
    test: JetDataset


def available(data_dir: str | Path | None = None) -> list[str]:
    """Names of the datasets recorded in ``MANIFEST.json``."""
    return sorted(read_manifest(data_dir or DATA_DIR))


def regenerate_command(name: str) -> str:
    """The exact command that recreates a shipped dataset (from the manifest when possible)."""
    entry = read_manifest(DATA_DIR).get(name)
    if entry:
        return entry["command"]
    return f"python -m jetkit.data.generate {name} --jobs 2"


@functools.lru_cache(maxsize=8)
def _verified(path: str, mtime_ns: int, size: int, sha256: str) -> bool:
    return sha256_file(path) == sha256


def load(
    name: str,
    data_dir: str | Path | None = None,
    *,
    verify: bool = True,
    classes: Sequence[str] | None = None,
    max_per_class: int | None = None,
) -> JetDataset:
    """Load a shipped dataset as a :class:`JetDataset` (float32 particles, bool mask).

    Args:
        name: a dataset in ``data/MANIFEST.json`` (``"top_qcd"``, ``"jet5"``).
        verify: check the file's sha256 against the manifest (cached per file version).
        classes: keep only these class names.
        max_per_class: keep at most this many jets of each class (the first ones in the file).

    Raises:
        ValueError: unknown dataset name (the message lists the known ones) or bad arguments.
        FileNotFoundError: the file is missing (the message gives the command that recreates it).
        OSError: the checksum does not match (corrupt or modified file; same hint).
    """
    data_dir = Path(data_dir or DATA_DIR)
    manifest = read_manifest(data_dir)
    known = sorted(set(manifest) | set(DATASETS))
    if name not in known:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(known)}")
    path = data_dir / f"{name}.npz"
    hint = f"Recreate it with: {regenerate_command(name)}"
    if not path.exists():
        raise FileNotFoundError(f"dataset file {path} is missing. {hint}")
    if name not in manifest:
        raise FileNotFoundError(f"{data_dir / 'MANIFEST.json'} has no entry for {name!r}. {hint}")
    if verify:
        st = path.stat()
        if not _verified(str(path), st.st_mtime_ns, st.st_size, manifest[name]["sha256"]):
            raise OSError(
                f"checksum mismatch for {path}: the file is corrupt or was modified "
                f"(expected sha256 {manifest[name]['sha256'][:12]}...). {hint}"
            )
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"max_per_class must be >= 1, got {max_per_class}")
    with np.load(path) as f:
        class_names = tuple(str(c) for c in f["class_names"])
        labels = f["labels"].astype(np.int32)
        keep = np.ones(len(labels), dtype=bool)
        if classes is not None:
            unknown = [c for c in classes if c not in class_names]
            if unknown:
                raise ValueError(f"unknown class {unknown}; {name} has {list(class_names)}")
            keep &= np.isin(labels, [class_names.index(c) for c in classes])
        if max_per_class is not None:
            rank = np.zeros(len(labels), dtype=np.int64)
            for c in np.unique(labels):
                idx = np.flatnonzero(labels == c)
                rank[idx] = np.arange(len(idx))
            keep &= rank < max_per_class
        idx = np.flatnonzero(keep)
        hlf = f["hlf"][idx].astype(np.float32) if "hlf" in f.files else None
        hlf_names = tuple(str(h) for h in f["hlf_names"]) if "hlf_names" in f.files else ()
        return JetDataset(
            particles=f["particles"][idx].astype(np.float32),
            mask=f["mask"][idx],
            jets=f["jets"][idx].astype(np.float32),
            labels=labels[idx],
            n_constituents=f["n_constituents"][idx].astype(np.int32),
            hlf=hlf,
            name=name,
            class_names=class_names,
            hlf_names=hlf_names,
        )


def split(
    dataset: JetDataset, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0
) -> Splits:
    """Deterministic stratified train/val/test split.

    Each class is shuffled with ``numpy.random.default_rng(seed)`` and cut by ``fractions``, so
    class proportions are the same in every part and the same seed always gives the same split."""
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(dataset.labels):
        idx = rng.permutation(np.flatnonzero(dataset.labels == c))
        n_train = int(round(fractions[0] * len(idx)))
        n_val = int(round(fractions[1] * len(idx)))
        for part, sl in zip(parts, (slice(0, n_train), slice(n_train, n_train + n_val),
                                    slice(n_train + n_val, None))):
            part.append(idx[sl])
    # Shuffle across classes too, so a plain slice of a split is a mixed sample.
    orders = [rng.permutation(np.concatenate(p)) for p in parts]
    return Splits(*(dataset[o] for o in orders))


def batches(
    dataset: JetDataset, batch_size: int, *, seed: int | None = 0, drop_last: bool = False
) -> Iterator[JetDataset]:
    """Iterate over mini-batches; shuffled with ``seed`` (``None`` keeps the order)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(dataset)
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield dataset[order[start : start + batch_size]]


def one_vs_background(dataset, signal: str, background: Sequence[str]):
    """Indices of the jets of ``dataset`` in ``signal`` or ``background`` classes, and labels
    1 (signal) / 0 (background) for them; e.g. W jets against q + g jets of jet5."""
    names = list(dataset.class_names)
    for c in (signal, *background):
        if c not in names:
            raise ValueError(f"unknown class {c!r}; known classes: {names}")
    labels = np.asarray(dataset.labels)
    sig = labels == names.index(signal)
    bkg = np.isin(labels, [names.index(c) for c in background])
    idx = np.flatnonzero(sig | bkg)
    return idx, sig[idx].astype(int)
