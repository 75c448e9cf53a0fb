"""Files: atomic, byte-reproducible ``.npz`` writes, sha256 checksums and MANIFEST entries."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

from jetkit.data.specs import HLF_RECIPE, R_JET, DatasetSpec

__all__ = ["package_versions", "read_manifest", "save_npz", "sha256_file", "write_manifest_entry"]

# A fixed timestamp for every zip member makes the shipped .npz files byte-reproducible.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)



def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as a compressed .npz that is byte-identical for identical arrays.

    Written to a temporary file in the same folder and renamed into place (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for key in sorted(arrays):
                info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asarray(arrays[key]), allow_pickle=False)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; shipped files are world-readable
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in ("pythia8mc", "fastjet", "awkward", "numpy", "jax", "jetkit"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def read_manifest(data_dir: str | Path) -> dict:
    """The entries of ``data_dir/MANIFEST.json`` ({} when there is none)."""
    path = Path(data_dir) / "MANIFEST.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_manifest_entry(name: str, path: Path, spec: DatasetSpec, arrays: dict, command: str,
                         stats: dict, chunks_used: dict[int, int]) -> None:
    """Record sha256, size, versions, settings, seeds and counts of one dataset."""
    manifest_path = path.parent / "MANIFEST.json"
    manifest = read_manifest(path.parent)
    entry = {
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "command": command,
        "versions": package_versions(),
        "settings": {
            "generator": "Pythia 8 (Monash 2013 defaults), pp 13 TeV, ISR/FSR/MPI/hadronisation on",
            "clustering": f"FastJet anti-kT R={R_JET}, E-scheme, visible final-state particles",
            "jet_four_vector": "sum of the constituents taken massless (pT, eta, phi)",
            "pt_window_gev": [spec.pt_min, spec.pt_max],
            "eta_max": spec.eta_max,
            "n_constituents": spec.n_constituents,
            "events_per_chunk": spec.events_per_chunk,
            **({"hlf": HLF_RECIPE} if spec.with_hlf else {}),
            "classes": {
                p.name: {
                    "pythia": list(p.pythia),
                    "truth_match": p.match,
                    "pthat_window_gev": list(spec.pthat_range(p)),
                }
                for p in spec.classes
            },
        },
        "seeds": {
            "base_seed": spec.base_seed,
            "chunk_seed": "jetkit.data.specs.chunk_seed(base_seed, class_index, chunk_index)",
            "chunks_used": {spec.classes[c].name: n for c, n in chunks_used.items()},
        },
        "counts": {p.name: int((arrays["labels"] == c).sum()) for c, p in enumerate(spec.classes)},
        "generation": {
            "events": {spec.classes[c].name: int(v) for c, v in stats["events_per_class"].items()},
            "cpu_seconds": {
                spec.classes[c].name: round(v, 1) for c, v in stats["cpu_seconds_per_class"].items()
            },
        },
    }
    manifest[name] = entry
    text = json.dumps(dict(sorted(manifest.items())), indent=2) + "\n"
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(text)
    os.replace(tmp, manifest_path)
