"""Substructure feature throughput: jetkit (JAX, jit-compiled, CPU) against fjcontrib through
scikit-hep ``fastjet`` on the same jets, with the agreement between the two.

    python benchmarks/features.py                # 2000 top/QCD jets from data/top_qcd.npz
    python benchmarks/features.py --jets 500 --dataset jet5

jetkit times are measured after a warm-up call (compilation excluded; the compile time is printed
separately). jetkit splits the jets over one XLA CPU device per core (``import jetkit`` makes them,
:func:`jetkit.parallel.over_jets` uses them; ``JETKIT_CPU_DEVICES=1`` for one core); fjcontrib
through scikit-hep ``fastjet`` runs on one core, as it does for its users. fjcontrib times include building the FastJet cluster sequence of each jet (anti-kT,
R = 10, so the whole jet is one jet), because fjcontrib needs one. Without the data file, jets
are generated with Pythia (a few hundred, slower to start).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

from jetkit import physics


def load_jets(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n jets (half per class where possible) as float32 particles and a bool mask."""
    from jetkit import data

    try:
        ds = data.load(name, max_per_class=max(1, n // 2))
        return ds.particles[:n], ds.mask[:n]
    except (FileNotFoundError, OSError) as err:
        print(f"{err}\n-> generating a few jets with Pythia instead")
        import dataclasses

        from jetkit.data.events import generate_chunk
        from jetkit.data.specs import DATASETS

        spec = dataclasses.replace(DATASETS[name], events_per_chunk=max(50, n // 2))
        parts = [generate_chunk(spec, c, 0)["particles"] for c in range(len(spec.classes))]
        p = np.concatenate(parts)[:n].astype(np.float32)
        return p, p[..., 0] > 0


def fastjet_sequence(particles, mask):
    """One FastJet event per jet (massless four-vectors, float64), clustered into one jet."""
    import awkward as ak
    import fastjet

    p = np.asarray(particles, np.float64)
    pt, eta, phi = p[..., 0][mask], p[..., 1][mask], p[..., 2][mask]
    flat = {"px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": pt * np.sinh(eta), "E": pt * np.cosh(eta)}
    events = ak.unflatten(ak.zip(flat), mask.sum(axis=1))
    return fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.antikt_algorithm, 10.0))


def fj_taus(p, m):
    cs = fastjet_sequence(p, m)
    return np.array(cs.njettiness(axes_definition="KT_Axes", njets=[1, 2, 3], beta=1.0, R0=0.8).tolist())


def fj_ecfs(p, m):
    cs = fastjet_sequence(p, m)

    def corr(**kw):
        return np.array(cs.exclusive_jets_energy_correlator(njets=1, beta=1.0, **kw).tolist())

    e2 = corr(func="generalized", npoint=2, angles=-1)
    e3 = corr(func="generalized", npoint=3, angles=-1)
    return np.stack([e2, e3, corr(func="c2"), corr(func="d2")], axis=1)


def fj_m2n2(p, m):
    cs = fastjet_sequence(p, m)
    return np.stack([np.array(cs.exclusive_jets_energy_correlator(njets=1, beta=1.0, func=f).tolist())
                     for f in ("m2", "n2")], axis=1)


def fj_mmdt(p, m):
    cs = fastjet_sequence(p, m)
    sd = cs.exclusive_jets_softdrop_grooming(njets=1, beta=0.0, symmetry_cut=0.1, R0=0.8)
    return np.array(sd.msoftdrop.tolist())


def jk_taus(p, m):
    return physics.nsubjettiness(p, m, (1, 2, 3), beta=1.0)


def fj_taus_onepass(p, m):
    cs = fastjet_sequence(p, m)
    return np.array(cs.njettiness(axes_definition="OnePass_KT_Axes", njets=[1, 2, 3], beta=1.0, R0=0.8).tolist())


def jk_taus_onepass(p, m):
    return physics.nsubjettiness(p, m, (1, 2, 3), beta=1.0, axes="onepass_kt")


def jk_ecfs(p, m):
    c = physics.correlators(p, m, 1.0, generalised=False)  # one pass for all four
    return jax.numpy.stack([c["e2"], c["e3"], c["c2"], c["d2"]], axis=1)


def jk_m2n2(p, m):
    c = physics.correlators(p, m, 1.0)  # one pass for both
    return jax.numpy.stack([c["m2"], c["n2"]], axis=1)


def jk_mmdt(p, m):
    return physics.softdrop(p, m)[0]


def timed(fn, *args, repeat: int = 3) -> tuple[float, object]:
    """Best wall time [s] of ``repeat`` calls and the last result."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best, out


def agreement(ours, ref, atol: float = 0.0) -> tuple[float, float]:
    """Fraction of values within 1e-4 relative, and the worst relative difference."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    diff = np.abs(ours - ref)
    rel = np.where(diff > atol, diff / np.maximum(np.abs(ref), 1e-300), 0.0)
    return float(np.mean(rel <= 1e-4)), float(rel.max())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="top_qcd", choices=["top_qcd", "jet5"])
    parser.add_argument("--jets", type=int, default=2000)
    args = parser.parse_args(argv)
    particles, mask = load_jets(args.dataset, args.jets)
    n, p = mask.shape
    print(f"{n} {args.dataset} jets, up to {p} constituents, {os.cpu_count()} CPU cores, "
          f"jax {jax.__version__} on {jax.local_device_count()} {jax.devices()[0].platform} device(s)\n")
    rows = [
        ("tau_1..3 (kT axes, beta=1)", jk_taus, fj_taus, 0.0, 1.5),
        ("tau_1..3 (one-pass kT axes)", jk_taus_onepass, fj_taus_onepass, 0.0, None),
        ("e2, e3, C2, D2 (beta=1)", jk_ecfs, fj_ecfs, 0.0, 10.0),
        ("M2, N2 (beta=1)", jk_m2n2, fj_m2n2, 0.0, 5.0),
        ("mMDT mass", jk_mmdt, fj_mmdt, 1e-4, 1.5),
    ]
    header = f"{'observables':30s} {'jetkit jets/s':>14s} {'compile s':>10s} {'fjcontrib jets/s':>17s} " \
             f"{'speed-up':>9s} {'goal':>6s} {'f32 within 1e-4':>16s} {'worst rel':>10s}"
    print(header)
    print("-" * len(header))
    for name, jk, fj, atol, goal in rows:
        t0 = time.perf_counter()
        jax.block_until_ready(jk(particles, mask))
        compile_s = time.perf_counter() - t0
        t_jk, ours = timed(jk, particles, mask)
        t_fj, ref = timed(fj, particles, mask, repeat=1)
        frac, worst = agreement(ours, ref, atol)
        print(f"{name:30s} {n / t_jk:14.0f} {compile_s - t_jk:10.1f} {n / t_fj:17.0f} "
              f"{t_fj / t_jk:9.1f} {'-' if goal is None else f'{goal:5.1f}x':>6s} {frac:16.4f} {worst:10.1e}")
    t0 = time.perf_counter()
    jax.block_until_ready(physics.hls4ml_features(particles, mask))
    compile_s = time.perf_counter() - t0
    t_hlf, _ = timed(physics.hls4ml_features, particles, mask)
    print(f"{'hls4ml_features (16 columns)':30s} {n / t_hlf:14.0f} {compile_s - t_hlf:10.1f} "
          f"{'-':>17s} {'-':>9s} {'-':>6s} {'-':>16s} {'-':>10s}")


if __name__ == "__main__":
    main()
