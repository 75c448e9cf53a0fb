"""Source of notebooks/00_tour_of_jets.ipynb (run `python notebooks/build/build_00.py`, then
`make notebooks` to execute it). Keeping the source as a script makes reviews readable."""

from nbbuild import Notebook

nb = Notebook()
md, code = nb.md, nb.code

md(r"""
# 00 · A tour of jets

Quarks and gluons produced at the LHC are never seen directly: they shower and hadronise into
collimated sprays of particles, **jets**. Heavy particles (W, Z, top) produced with large momentum
decay into quarks so collimated that their decay products land in *one* jet, and the jet keeps a
memory of where it came from in its **substructure**. This notebook is a guided tour of real jets
made with Pythia 8 and FastJet, the same jets every later notebook learns from.

**What you will learn**
- what a jet is and how the kit's jets were made (Pythia 8 → FastJet anti-kT, truth matching);
- the three representations machine learning uses: a **cloud of constituents**, a **jet image**,
  and **high-level features** (mass, N-subjettiness, energy correlators);
- which physics separates W, Z and top jets from quark and gluon jets, and how to see it;
- how to work with padded arrays and masks in `jetkit`.

**Prerequisites:** Python and NumPy; no particle physics beyond "E = mc²" is assumed.

**Time:** about 30 min to read and do the two exercises; running everything takes about a minute.
""")

code(r"""
%matplotlib inline
import numpy as np
import matplotlib.pyplot as plt

from jetkit import data, exercises, metrics, physics, plotting
from jetkit.data import events
from jetkit.physics import images, kinematics
from jetkit.widgets import JetImageViewer

plotting.style()
""")

md(r"""
## 1. From a quark to a jet

A quark or gluon leaving a collision radiates more quarks and gluons (the *parton shower*); at a
distance of about a femtometre colour confinement turns them into hadrons (*hadronisation*). What
the detector sees is a spray of pions, kaons, photons, protons... A **jet algorithm** turns that
spray into a well-defined object. We use **anti-kT** with radius R = 0.8
([arXiv:0802.1189](https://arxiv.org/abs/0802.1189)): it clusters particles around the hardest
ones into round jets of radius R in the (η, φ) plane, where η is the pseudorapidity (the polar
angle, η = −ln tan θ/2) and φ the azimuth.

A particle of mass m and transverse momentum pT decays into products separated by roughly
ΔR ≈ 2m/pT. When ΔR < R, the whole decay is *one* jet:
""")

code(r"""
for name, mass in [("W", 80.4), ("Z", 91.2), ("top", 172.5)]:
    for pt in (600.0, 1000.0):
        print(f"{name:>3} at pT = {pt:4.0f} GeV: decay products within dR ~ {2 * mass / pt:.2f}")
""")

md(r"""
## 2. How the data was made

Every jet in `data/` was made by `python -m jetkit.data.generate` (the file `data/MANIFEST.json`
records the exact command, all settings, the seeds and a checksum):

1. **Pythia 8** simulates proton–proton collisions at 13 TeV: the hard process (e.g. gg → tt̄ with
   hadronic W decays, or QCD 2 → 2 scattering), initial- and final-state radiation, multi-parton
   interactions and hadronisation (Monash 2013 tune).
2. **FastJet** clusters all visible final-state particles (neutrinos are invisible) with anti-kT,
   R = 0.8 (FastJet: Cacciari, Salam, Soyez, arXiv:1111.6097; anti-kT: arXiv:0802.1189 — please
   cite both when you use these jets).
3. Jets inside a pT window with |η| < 2 are kept if they pass a **truth match**: a top jet must
   contain the top quark and its three decay quarks (b, q, q̄′) within ΔR < 0.8; a W or Z jet the
   boson and both quarks; a quark or gluon jet takes the flavour of the closest hard parton.

The very same code runs live below: one top-pair event, every particle drawn at its (η, φ) with
an area proportional to its pT and coloured by its jet. The circled jets pass the selection.
""")

code(r"""
event = events.generate_event("top_qcd", "top", seed=7)
fig, ax = plt.subplots(figsize=(9, 5))
plotting.plot_event(ax, event)
ax.set_title(rf"one Pythia 8 $t\bar{{t}}$ event, {len(event['pt'])} visible particles")
plt.show()
""")

md(r"""
## 3. The shipped datasets

`data.load` checks the file against its sha256 in the manifest and returns a `JetDataset`.
Arrays are **batch first and zero-padded**: `particles[i, k] = (pT [GeV], Δη, Δφ)` of the k-th
hardest constituent of jet i, relative to the jet axis; `mask[i, k]` says whether that slot holds a
real constituent. Every jetkit function takes `(particles, mask)` and ignores the padding.
""")

code(r"""
top_qcd = data.load("top_qcd")   # tops vs QCD, pT 550-650 GeV, up to 64 constituents
jet5 = data.load("jet5")         # g, q, t, W, Z at pT ~ 1 TeV, 30 constituents + 16 features
for d in (top_qcd, jet5):
    print(f"{d.name:8s} {d.counts()}  particles {d.particles.shape}  mask {d.mask.shape}")
print("regenerate with:", data.regenerate_command("top_qcd"))
""")

md(r"""
## 4. Representation 1: a cloud of constituents

The most complete description of a jet is the list of its particles. Here are one top jet and one
QCD jet: the top jet shows **three hard prongs** (b, q, q̄′), the QCD jet one hard core with soft
radiation around it. The order of the constituents carries no meaning (we sort by pT only for
convenience), which is why later notebooks use permutation-invariant models.
""")

code(r"""
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
for ax, name in zip(axes, ("top", "qcd")):
    i = np.flatnonzero(top_qcd.labels == top_qcd.class_names.index(name))[3]
    pt, eta, phi, m = top_qcd.jets[i]
    plotting.plot_constituents(ax, top_qcd.particles[i], top_qcd.mask[i],
                               title=f"{name}: pT = {pt:.0f} GeV, m = {m:.0f} GeV")
plt.tight_layout()
plt.show()
""")

md(r"""
How many particles does a jet have? Gluons radiate more than quarks (colour factor
C_A = 3 vs C_F = 4/3), and a top decays into three quarks that each shower, so multiplicity is
already a useful feature. The arrays keep the 64 (or 30) hardest; `n_constituents` records the
full count.
""")

code(r"""
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
plotting.hist_by_class(axes[0], top_qcd.n_constituents, top_qcd.labels, top_qcd.class_names,
                       bins=40, range=(0, 160), xlabel="number of constituents")
plotting.hist_by_class(axes[1], jet5.n_constituents, jet5.labels, jet5.class_names,
                       bins=40, range=(0, 160), xlabel="number of constituents")
axes[0].set_title("top_qcd (600 GeV)"); axes[1].set_title("jet5 (1 TeV)")
plt.tight_layout(); plt.show()
""")

md(r"""
## 5. The jet mass

Add the four-momenta of the constituents and take the invariant mass,
m² = (ΣE)² − |Σp|². For a jet that contains a whole decay, m is the mass of the decaying particle.

**Exercise 1.** Compute the mass of each of the first 1000 jets of `top_qcd` from its
constituents. `kinematics.particles_to_p4(particles, mask)` turns (pT, Δη, Δφ) into massless
four-vectors (px, py, pz, E) of shape (N, P, 4); `kinematics.invariant_mass(p4, mask)` sums over
the constituents.
""")

code(r"""
sample = top_qcd[:1000]
masses = None  # your code here: an array of 1000 jet masses in GeV
exercises.check("00_jet_mass", masses, sample);
""")

code(r"""
# Solution
p4 = kinematics.particles_to_p4(sample.particles, sample.mask)
masses = kinematics.invariant_mass(p4, sample.mask)
exercises.check("00_jet_mass", masses, sample);
""", hidden=True)

md(r"""
The mass is the single most powerful observable. At 1 TeV the jet5 classes show peaks at the W
(80.4 GeV), Z (91.2 GeV) and top (172.5 GeV) masses, while quark and gluon jets have a broad,
falling spectrum (their mass comes from radiation, m² ∝ αs pT² R²; gluons radiate more).
""")

code(r"""
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
plotting.hist_by_class(axes[0], top_qcd.jets[:, 3], top_qcd.labels, top_qcd.class_names,
                       bins=60, range=(0, 300), xlabel="jet mass [GeV]")
plotting.hist_by_class(axes[1], jet5.jets[:, 3], jet5.labels, jet5.class_names,
                       bins=60, range=(0, 300), xlabel="jet mass [GeV]")
for ax in axes:
    for m in (80.4, 91.2, 172.5):
        ax.axvline(m, color="grey", lw=0.8, ls=":")
plt.tight_layout(); plt.show()
""")

code(r"""
# NBVAL_CHECK_OUTPUT
def peak(d, name):  # most probable mass of a class, from a 2-GeV histogram
    counts, edges = np.histogram(d.jets[d.labels == d.class_names.index(name), 3], 150, (0, 300))
    return edges[np.argmax(counts)] + 1.0

print("W peak within 8 GeV of 80.4 GeV:", abs(peak(jet5, "w") - 80.4) < 8)
print("Z peak within 8 GeV of 91.2 GeV:", abs(peak(jet5, "z") - 91.2) < 8)
print("top peak within 15 GeV of 172.5 GeV:", abs(peak(top_qcd, "top") - 172.5) < 15)
""")

md(r"""
**Exercise 2.** A mass window is the simplest top tagger. Choose a window `(lo, hi)` in GeV that
keeps at least 70 % of the top jets and at most 20 % of the QCD jets of `top_qcd`. The check
tells you both efficiencies.
""")

code(r"""
window = (0.0, 300.0)  # your choice (lo, hi) in GeV
exercises.check("00_mass_window", window, top_qcd);
""")

code(r"""
# Solution: around the top peak, wide enough for the resolution of the mass
window = (135.0, 210.0)
exercises.check("00_mass_window", window, top_qcd);
""", hidden=True)

md(r"""
## 6. Representation 2: jet images

Pixelate the (Δη, Δφ) plane and let every pixel hold the pT that fell into it: a **jet image**
([arXiv:1407.5675](https://arxiv.org/abs/1407.5675)), the input of convolutional networks.
Because the physics does not care where the jet points, images are usually *preprocessed*
([arXiv:1511.05190](https://arxiv.org/abs/1511.05190)): **center** on the pT centroid,
**rotate** the principal axis to the vertical, **flip** so the hardest half is always on the
same side. Each step removes a symmetry the network would otherwise have to learn.
""")

code(r"""
jet = top_qcd[int(np.flatnonzero(top_qcd.labels == 1)[3])]
steps = {"raw": {}, "centered": dict(center=True), "+ rotated": dict(center=True, rotate=True),
         "+ flipped": dict(center=True, rotate=True, flip=True)}
fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
for ax, (title, opts) in zip(axes, steps.items()):
    image = images.jet_image(jet.particles[None], jet.mask[None], npix=32, **opts)[0]
    plotting.plot_jet_image(ax, image, extent=0.8, title=title, colorbar=False)
plt.tight_layout(); plt.show()
""")

md(r"""
Averaged over many jets, the preprocessed images show the typical radiation pattern of each class:
QCD jets are one hard core, tops have a second and third prong, W and Z jets two prongs.
""")

code(r"""
fig, axes = plt.subplots(1, 5, figsize=(20, 3.9))
first = np.concatenate([np.flatnonzero(jet5.labels == c)[:2000] for c in range(5)])  # 2000 per class
avg = images.average_image(jet5.particles[first], jet5.mask[first], jet5.labels[first], npix=32,
                           n_classes=5, normalise=True)
for ax, name, image in zip(axes, jet5.class_names, avg):
    plotting.plot_jet_image(ax, image, extent=0.8, title=f"average {name} jet", colorbar=False)
plt.tight_layout(); plt.show()
""")

md(r"""
## 7. Look for yourself

Browse the jets one by one. Switch the preprocessing steps on and off, change the class, or show
the class average. (In JupyterLab the figure is live; on GitHub you see a static snapshot.)
""")

code(r"""
viewer = JetImageViewer(top_qcd)
viewer
""")

md(r"""
## 8. Representation 3: high-level features

Physicists compress a jet into a few observables designed from QCD:

- **N-subjettiness** τN ([arXiv:1011.2268](https://arxiv.org/abs/1011.2268)) measures how well a
  jet is described by N axes: τN = Σi pT,i min_k ΔR_{i,k} / Σi pT,i R. A three-prong top has a
  small τ3/τ2 (τ32), a two-prong W a small τ2/τ1 (τ21).
- **Energy correlation functions** ([arXiv:1305.0007](https://arxiv.org/abs/1305.0007)) such as
  D2 = e3/e2³ probe two-prong structure without choosing axes.
- The **groomed mass** after soft drop / mMDT ([arXiv:1402.2657](https://arxiv.org/abs/1402.2657))
  removes soft, wide-angle radiation that smears the mass.

`jetkit.physics` computes them in JAX, batched over padded arrays, and agrees with the
reference C++ implementation (fjcontrib) to better than 1e-4 (see `tests/test_substructure_observables.py`).
""")

code(r"""
few = top_qcd[np.r_[0:1000, 25000:26000]]        # 1000 QCD + 1000 top jets
tau32 = np.asarray(physics.tau32(few.particles, few.mask))
m_sd, _ = physics.softdrop(few.particles, few.mask, zcut=0.1, beta=0.0)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
plotting.hist_by_class(axes[0], tau32, few.labels, few.class_names, bins=40, range=(0, 1),
                       xlabel=r"$\tau_{32} = \tau_3 / \tau_2$")
plotting.hist_by_class(axes[1], np.asarray(m_sd), few.labels, few.class_names, bins=60,
                       range=(0, 300), xlabel="soft-drop (mMDT) mass [GeV]")
plt.tight_layout(); plt.show()
""")

md(r"""
How good is each feature on its own? The area under the ROC curve (AUC) is the probability that
a random top jet is more top-like than a random QCD jet (0.5 = useless, 1 = perfect).
""")

code(r"""
is_top = few.labels == 1
aucs = {"jet mass": metrics.auc(is_top, -np.abs(few.jets[:, 3] - 172.5)),
        "soft-drop mass": metrics.auc(is_top, -np.abs(np.asarray(m_sd) - 172.5)),
        "tau32": metrics.auc(is_top, -tau32),
        "multiplicity": metrics.auc(is_top, few.n_constituents)}
for name, value in aucs.items():
    print(f"AUC({name}) = {value:.3f}")
""")

code(r"""
# NBVAL_CHECK_OUTPUT
print("mass and tau32 each separate tops from QCD (AUC > 0.85):",
      min(aucs["jet mass"], aucs["tau32"]) > 0.85)
print("multiplicity is weaker than tau32:", aucs["multiplicity"] < aucs["tau32"])
""")

md(r"""
The 16 features of the hls4ml jet dataset ([arXiv:1804.06913](https://arxiv.org/abs/1804.06913))
come precomputed with `jet5` (`jet5.hlf`, names in `jet5.hlf_names`); notebook 05 trains an
FPGA-ready tagger on them. Here are four of them across the five classes:
""")

code(r"""
fig, axes = plt.subplots(1, 4, figsize=(20, 4))
show = {"mass_mmdt": ((0, 250), "mMDT groomed mass [GeV]"), "d2_b1": ((0, 4), r"$D_2^{(\beta=1)}$"),
        "n2_b1": ((0, 0.5), r"$N_2^{(\beta=1)}$"), "zlogz": ((-4, 0), r"$\sum_i z_i \ln z_i$")}
for ax, (name, (rng, label)) in zip(axes, show.items()):
    col = jet5.hlf[:, jet5.hlf_names.index(name)]
    plotting.hist_by_class(ax, col, jet5.labels, jet5.class_names, bins=40, range=rng, xlabel=label)
plt.tight_layout(); plt.show()
""")

md(r"""
## Summary

- Jets are the collimated sprays quarks and gluons become; anti-kT R = 0.8 defines them, and a
  boosted W, Z or top ends up inside one jet whose **substructure** remembers its origin.
- The kit's jets are real Pythia 8 + FastJet jets with truth labels, a checksum manifest and a
  one-line command that regenerates them bit for bit.
- Three representations: **constituents** (padded arrays + masks, order meaningless), **images**
  (preprocessed to remove symmetries), **high-level features** (mass, τN, ECFs, groomed mass).
- Mass alone separates much; τ32, D2, N2 and multiplicity add the prong structure.

**Next:** 01 differentiates a whole analysis with JAX; 02 trains taggers on all three
representations.

**Further reading**
- Larkoski, Moult, Nachman, *Jet substructure at the LHC*, arXiv:1709.04464 (review).
- Kasieczka et al., *The machine learning landscape of top taggers*, arXiv:1902.09914.
- Cacciari, Salam, Soyez, *The anti-kt jet clustering algorithm*, arXiv:0802.1189.
- Thaler, Van Tilburg, *Identifying boosted objects with N-subjettiness*, arXiv:1011.2268.
- Bierlich et al., *A comprehensive guide to the physics and usage of PYTHIA 8.3*, arXiv:2203.11601.
""")

nb.write("00_tour_of_jets.ipynb")
