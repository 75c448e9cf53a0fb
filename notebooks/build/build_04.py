"""Source of notebooks/04_generative_models.ipynb (run `python notebooks/build/build_04.py`, then
`python benchmarks/notebooks.py 04_ --write` to execute it)."""

from nbbuild import Notebook

nb = Notebook()
md, code = nb.md, nb.code

md(r"""
# 04 · Generative models for jets, judged by physics

Every LHC analysis needs billions of simulated events, and the full chain (event generator,
parton shower, hadronisation, clustering, and in real life a Geant4 detector simulation) is one
of the largest consumers of CPU in particle physics. A **generative model** trained on simulated
jets can produce new ones orders of magnitude faster. The hard part is not training it: it is
knowing whether the jets it makes are *right*. This notebook builds two generators for gluon jets
and, above all, measures them with the metrics the field has agreed on.

**What you will learn**
- how fast Pythia 8 + FastJet makes jets on this machine, and how fast a learned generator does;
- a **variational autoencoder** (VAE) and a **flow-matching** model for jets of up to 30
  constituents, and how variable multiplicity is handled with a mask when sampling;
- the evaluation metrics of arXiv:2211.10295: **W1M**, **W1P**, **FPD** and **KPD**, always
  next to their *truth-vs-truth* value, with bootstrap uncertainties;
- which metric catches which failure (smeared mass, wrong multiplicity, dropped modes).

**Prerequisites:** notebook 00 (jets, constituents, masks); the idea of a neural network and of
a loss function. Notebook 03 introduces autoencoders in more depth.

**Time:** about 40 min to read and do the two exercises; running everything takes about a minute
(a pretrained checkpoint stands in for the long training; a short live training shows the loop).
""")

code(r"""
%matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from flax import nnx

from jetkit import exercises, metrics, plotting, train, zoo
from jetkit.data.generate import pythia_jets_per_second
from jetkit.models import generative as gen
from jetkit.models import generative_training as training
from jetkit.physics import images

plotting.style()
FULL = os.environ.get("JETKIT_SCALE", "") == "full"   # more epochs/bootstraps with a GPU
print("scale:", "full" if FULL else "small (default)")
""")

md(r"""
## 1. The data: gluon jets at 1 TeV

We model **gluon jets** of the `jet5` dataset (pT 900–1100 GeV, the 30 hardest constituents,
Pythia 8 + FastJet anti-kT R = 0.8; FastJet: arXiv:1111.6097). Gluon jets have no mass peak, but a broad mass distribution
set by how much hard, wide-angle radiation they contain: a good test of whether a generator got
the *correlations* between particles right, not only each particle's spectrum.

Each jet is a pT-ordered list of (pT, Δη, Δφ) with a mask. The models see
(log pT, Δη, Δφ) of each slot, standardised slot by slot (`gen.Standardiser`), flattened to
30 × 3 = 90 numbers, plus the multiplicity n/30 as a condition. The pT ordering makes the list
canonical, so plain MLPs can model it. Padded slots are 0 and carry no loss.
""")

code(r"""
(train_jets, val_jets, test_jets), std = training.gluon_splits("g", seed=0)
train_data = gen.model_inputs(train_jets.particles, train_jets.mask, std)
val_data = gen.model_inputs(val_jets.particles, val_jets.mask, std)
n_train = train_jets.mask.sum(1)
print(f"gluon jets: train {len(train_jets)}, val {len(val_jets)}, test {len(test_jets)}")
print("model input:", train_data[0].shape, " multiplicities in training:",
      dict(zip(*np.unique(n_train, return_counts=True))))
""")

md(r"""
Almost every 1 TeV gluon jet has at least 30 constituents, so nearly all masks are full; the
machinery still matters (quark jets, or a 64-constituent dataset, have many partial jets).
Generation respects it in three steps: draw n from the training multiplicities
(`gen.sample_multiplicity`), generate all 30 slots given n, then keep the n hardest and zero and
mask the rest (`gen.to_particles`).

## 2. Model 1: a variational autoencoder

The VAE (arXiv:1312.6114) encodes a jet into a Gaussian q(z|x) in a 4-dimensional latent space
and decodes z back. Its loss is the reconstruction error (real slots only) plus β·KL(q(z|x) ‖
N(0, 1)); sampling decodes z ~ N(0, 1). It trains in seconds, live:
""")

code(r"""
vae = gen.VAE(dim=90, latent_dim=4, hidden=(256, 128), beta=1.0, rngs=nnx.Rngs(0), seed=0)
hist_vae = train.fit(vae, train_data, val_data, loss_fn=gen.vae_loss, epochs=40 if FULL else 3,
                     batch_size=256, learning_rate=2e-3, seed=0, description="VAE")
print(f"VAE: {len(hist_vae.train_loss)} epochs in {hist_vae.seconds:.0f} s, "
      f"validation loss {hist_vae.val_loss[0]:.1f} -> {hist_vae.val_loss[-1]:.1f}")
mult = gen.sample_multiplicity(train_jets.mask, len(test_jets), seed=1)
vae_jets = gen.sample_vae(vae, mult, std, seed=1)
""")

md(r"""
What did the VAE learn? Encode the test jets and look at the means μ of the first two latent
directions, coloured by jet mass. (A static scatter plot: the interactive `LatentExplorer`
widget was not available when this notebook was written.) Light jets crowd the centre and
heavy ones sit further out: the latent space orders jets by how much wide-angle radiation they
have, but the Gaussian prior and the blurry decoder average over the fine structure.
""")

code(r"""
x_test, _, nfrac_test = gen.model_inputs(test_jets.particles, test_jets.mask, std)
mu, logvar = nnx.jit(lambda m, x, c: m.encode(x, c))(vae, x_test, nfrac_test)
mass_test = metrics.generative.jet_mass(test_jets.particles, test_jets.mask)
fig, ax = plt.subplots(figsize=(6.2, 5))
sc = ax.scatter(mu[:, 0], mu[:, 1], c=mass_test, s=4, cmap="viridis", vmax=300)
fig.colorbar(sc, ax=ax, label="jet mass [GeV]")
ax.set_xlabel(r"latent mean $\mu_1$")
ax.set_ylabel(r"latent mean $\mu_2$")
ax.set_title("VAE latent space of test gluon jets")
plt.show()
""")

md(r"""
## 3. Model 2: flow matching

Flow matching (arXiv:2210.02747) learns a velocity field v(x, t) that carries Gaussian noise
(t = 0) to data (t = 1). Training is a regression: pick a jet x₁, noise x₀ and a time t, form
the point x_t = (1 − t) x₀ + t x₁ on the straight path between them and fit v(x_t, t) to
x₁ − x₀. Sampling integrates dx/dt = v from noise with a few ODE steps. Here the field is an
MLP conditioned on t and on n/30.

One epoch (27 steps) runs live below to show the loop; a good model needs about 12k steps
(a few minutes of CPU), so we then load the checkpoint that
`python -m jetkit.models.generative` trained with the same code and fixed seeds.
""")

code(r"""
flow = training.build_flow()                      # same architecture as the checkpoint
hist_flow = train.fit(flow, train_data, val_data, loss_fn=gen.flow_matching_loss,
                      epochs=60 if FULL else 1, batch_size=256, learning_rate=1e-3, seed=0,
                      description="flow matching")
print(f"live training: {hist_flow.steps} steps in {hist_flow.seconds:.0f} s, validation loss "
      f"{hist_flow.val_loss[-1]:.0f} (the pretrained model: about 110 after 12k steps)")
flow, _ = zoo.load("flow_matching_gluon")            # the pretrained model (sha256-checked)
meta = zoo.describe("flow_matching_gluon")["metadata"]
print(f"loaded the pretrained model ({meta['steps']} steps, EMA weights)")
flow_jets = gen.sample_flow(flow, mult, std, seed=1, steps=16)
""")

md(r"""
As section 5 will show, this flow gets each particle's spectrum right but the jet mass, which
depends on *pairs* of particles, only roughly. A standard remedy in fast simulation
(PC-JeDi, arXiv:2303.05376; EPiC-FM) is to **condition on jet-level quantities**: the generator
learns p(constituents | n, m) and the jet's (n, m) are drawn from training jets (in a real fast
simulation they would come from a cheap jet-level model). Same architecture, one more input,
trained by `python -m jetkit.models.generative --with-mass`. Keep in mind what this means for
the metrics: the mass *distribution* is now an input, so W1M tests whether the generated
constituents *realise* the requested mass; W1P, FPD and KPD stay independent tests.
""")

code(r"""
flow_m, _ = zoo.load("flow_matching_gluon_mass")
meta_m = zoo.describe("flow_matching_gluon_mass")["metadata"]
mult_m, cond_m = gen.sample_conditions(train_jets.particles, train_jets.mask, len(test_jets), std, seed=1)
flow_m_jets = gen.sample_flow(flow_m, mult_m, std, seed=1, steps=16, cond=cond_m)
requested = np.exp(cond_m[:, 1] * std.log_mass_std + std.log_mass_mean)
realised = metrics.generative.jet_mass(*flow_m_jets)
print(f"mass-conditioned flow ({meta_m['steps']} steps): median |realised - requested| mass "
      f"= {np.median(np.abs(realised - requested)):.1f} GeV")
""")

md(r"""
## 4. Why bother: jets per second

Same machine, same cell: the full chain Pythia 8 + FastJet + truth matching for a handful of
gluon events (most events give no jet in the window, which is part of the real cost), then the
flow-matching model (16 midpoint steps = 32 network evaluations per jet).
""")

code(r"""
pythia = pythia_jets_per_second("g", events=50)
model = gen.time_sampler(lambda n: gen.sample_flow(flow, np.full(n, 30), std, seed=2), n=2000)
speedup = model["jets_per_second"] / pythia["jets_per_second"]
print(f"Pythia 8 + FastJet: {pythia['jets']} jets in {pythia['seconds']:.1f} s "
      f"= {pythia['jets_per_second']:.1f} jets/s")
print(f"flow matching:      {model['jets']} jets in {model['seconds']:.2f} s "
      f"= {model['jets_per_second']:.0f} jets/s  ({speedup:.0f}x faster)")
""")

code(r"""
# NBVAL_CHECK_OUTPUT
print("generator at least 100x faster than Pythia + FastJet:", speedup >= 100)
""")

md(r"""
## 5. Looking before measuring

Four sets of 1500 jets each: held-out Pythia jets, the VAE, the flow and the mass-conditioned
flow. Look at the jet mass
first: it depends on *pairs* of particles (m² ≈ Σ pT,i pT,j ΔR²ᵢⱼ), so a model that gets every
particle's spectrum right can still get the mass wrong.
""")

code(r"""
samples = {"Pythia (test)": (test_jets.particles, test_jets.mask), "VAE": vae_jets,
           "flow matching": flow_jets, "flow | n, m": flow_m_jets}
fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
bins = [np.linspace(0, 400, 41), np.linspace(-7, 0, 36), np.linspace(-0.8, 0.8, 41),
        np.linspace(-0.8, 0.8, 41)]
labels = ["jet mass [GeV]", r"$\log(p_T / p_{T,\mathrm{jet}})$", r"particle $\Delta\eta$",
          r"particle $\Delta\phi$ [rad]"]
for name, (p, m) in samples.items():
    pf = metrics.generative.particle_features(p, m)
    values = [metrics.generative.jet_mass(p, m), np.log(pf[:, 0]), pf[:, 1], pf[:, 2]]
    for ax, v, b in zip(axes, values, bins):
        ax.hist(v, bins=b, density=True, histtype="step", lw=1.6, label=name)
for ax, lab in zip(axes, labels):
    ax.set_xlabel(lab)
    ax.set_ylabel("density")
axes[0].legend(fontsize=9)
plt.tight_layout()
plt.show()
""")

code(r"""
fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
for ax, (name, (p, m)) in zip(axes, samples.items()):
    img = images.average_image(p[:600], m[:600], npix=32, extent=0.8)   # 600 jets each
    plotting.plot_jet_image(ax, img, extent=0.8, label="mean pT fraction", title=name)
plt.tight_layout()
plt.show()
""")

md(r"""
Average images of jets centred, rotated to their principal axis and flipped (as in notebook 00)
tell a story the 1-D histograms hide. Real gluon jets are elongated along the principal axis:
the hardest emission defines a direction. The flows reproduce the core and the spread of
radiation, but their average is round: they do not line a jet's radiation up along one axis, a
correlation between particles. The VAE squeezes everything into the core: blurry samples and
masses that are far too low.

## 6. The metrics

Following arXiv:2211.10295 (and the JetNet benchmark, arXiv:2106.11535):

- **W1M**: the 1-Wasserstein distance between the jet-mass distributions [GeV]: the average
  distance mass has to be moved to turn one histogram into the other.
- **W1P**: the mean W1 of the particle features (pT/pT,jet, Δη, Δφ) over all real particles (× 10³).
- **FPD**: fit a Gaussian to jet-level features of each sample and take the Fréchet distance
  |μ₁ − μ₂|² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½); sees correlations between features.
- **KPD**: the unbiased squared maximum mean discrepancy (MMD²) with the cubic polynomial kernel
  k(x, y) = (x·y/d + 1)³; zero on average for identical distributions, no Gaussian assumption.

Jet-level features for FPD/KPD (`metrics.generative.FEATURE_NAMES`): mass, pT and logs of energy correlators
e₂, C₂, D₂ (arXiv:1305.0007, 1409.6298), standardised with the truth sample. **Every value needs
a reference**: two independent sets of Pythia jets of the same size do not give zero. The
*truth-vs-truth* row compares the validation jets with the test jets, and ± is the bootstrap
standard deviation.

### Exercise 1: W1 by hand
For two samples of the same size, W1 has a one-line formula. Compute W1 between the test-jet
masses `mass_test` and the flow's masses `mass_flow` without calling `metrics.generative.w1`.
""")

code(r"""
mass_flow = metrics.generative.jet_mass(*flow_jets)
my_w1 = None   # your code here
exercises.check("04_w1_by_hand", my_w1, mass_test, mass_flow);
""")

code(r"""
# Solution: sort both samples; W1 is the mean distance between matching quantiles.
my_w1 = np.mean(np.abs(np.sort(mass_test) - np.sort(mass_flow)))
exercises.check("04_w1_by_hand", my_w1, mass_test, mass_flow);
""", hidden=True)

code(r"""
reference = (test_jets.particles, test_jets.mask)
candidates = {"truth vs truth": (val_jets.particles, val_jets.mask), "VAE": vae_jets,
              "flow matching": flow_jets, "flow | n, m": flow_m_jets}
table = metrics.generative.evaluate(reference, candidates, n_boot=30 if FULL else 8, seed=0)
print(metrics.generative.format_table(table))
""")

code(r"""
# NBVAL_CHECK_OUTPUT
tt, va, fl, best = (table[k] for k in ("truth vs truth", "VAE", "flow matching", "flow | n, m"))
print("best model (flow | n, m): W1M < 3x truth-vs-truth:", best["W1M"][0] < 3 * tt["W1M"][0])
print("best model: FPD reported, and below the unconditional flow's:", best["FPD"][0] < fl["FPD"][0])
print("flow beats the VAE in W1M, W1P and FPD:",
      all(fl[k][0] < va[k][0] for k in ("W1M", "W1P", "FPD")))
""")

md(r"""
## 7. Which metric catches which failure?

A metric is only useful if it reacts to the failures we care about. Take *real* jets (the
validation set) and break them on purpose:

- **smeared mass**: every jet's angles scaled by a random factor e^(0.3 g), g ~ N(0, 1): jet
  masses smear by ~30 %;
- **shuffled between jets**: slot k of every jet is taken from a random other jet,
  independently for each k. Every particle distribution is *exactly* the real one; only the
  correlations inside each jet are gone;
- **wrong multiplicity**: each jet keeps only 20–29 of its constituents;
- **collapsed modes**: only jets below the median mass, resampled (the generator dropped the
  high-mass part of the distribution, as a collapsing GAN would).
""")

code(r"""
broken = {"truth vs truth": (val_jets.particles, val_jets.mask)}
for kind in ("smeared mass", "shuffled between jets", "wrong multiplicity", "collapsed modes"):
    broken[kind] = metrics.generative.distort(val_jets.particles, val_jets.mask, kind, seed=3)
table_broken = metrics.generative.evaluate(reference, broken, n_boot=30 if FULL else 8, seed=0)
print(metrics.generative.format_table(table_broken))
""")

code(r"""
# NBVAL_CHECK_OUTPUT
# "caught": the value is more than 3 bootstrap sigmas above the truth-vs-truth value
caught = {kind: [k for k in ("W1M", "W1P", "FPD", "KPD")
                 if row[k][0] - table_broken["truth vs truth"][k][0] > 3 * max(row[k][1], 1e-12)]
          for kind, row in table_broken.items() if kind != "truth vs truth"}
for kind, metrics_ in caught.items():
    print(f"{kind:24s} caught by: {', '.join(metrics_) or 'none'}")
""")

md(r"""
Read the table row by row. The shuffled jets are the key lesson: W1P, which only looks at the
particle distributions, cannot see that every jet is nonsense, while W1M, FPD and KPD, built on
jet-level quantities, see it at once. Smearing the mass of broad gluon-jet distributions is a
subtler defect, and how many standard deviations it makes depends on the metric and on the
sample size. Dropped modes and wrong multiplicities move everything. No single number is enough;
that is why arXiv:2211.10295 recommends reporting W1M, W1P, FPD and KPD together, each with its
truth-vs-truth reference and an uncertainty.

### Exercise 2: FPD of two Gaussians
In one dimension FPD has a closed form. What is the Fréchet distance between N(μ = 1, σ = 2)
and N(μ = 3, σ = 1.5)? Compute it from the formula above (Σ = σ²), not numerically.
""")

code(r"""
fpd_1d = None   # your formula here
exercises.check("04_fpd_gaussians", fpd_1d, 1.0, 2.0, 3.0, 1.5);
""")

code(r"""
# Solution: (mu1 - mu2)^2 + sigma1^2 + sigma2^2 - 2 sigma1 sigma2 = (mu1 - mu2)^2 + (sigma1 - sigma2)^2
fpd_1d = (1.0 - 3.0) ** 2 + (2.0 - 1.5) ** 2
exercises.check("04_fpd_gaussians", fpd_1d, 1.0, 2.0, 3.0, 1.5);
""", hidden=True)

md(r"""
## Summary

- A learned generator makes jets orders of magnitude faster than Pythia 8 + FastJet (measured
  above on this machine); the price is that its output must be validated.
- **Masks** carry variable multiplicity through training (loss on real slots only) and sampling
  (draw n, generate, keep the n hardest, zero and mask the rest).
- The **VAE** trains fast and has a smooth latent space, but its samples are blurry; **flow
  matching** is a regression onto straight noise-to-data paths and gives sharper jets.
  Conditioning on jet-level quantities (n, m) fixes what the unconditional model misses, at the
  price of needing those quantities from somewhere, and of W1M then testing consistency.
- Judge generators with **W1M, W1P, FPD and KPD together**, each beside its truth-vs-truth value
  with bootstrap errors: particle-level and jet-level metrics catch different failures.
- Next steps: permutation-invariant set models (MPGAN, EPiC, transformers), conditioning on jet
  kinematics, and the JetNet benchmark at the full 150 constituents.

**Further reading**
- Kansal et al., *Evaluating generative models in high energy physics*, arXiv:2211.10295
  (W1M, W1P, FPD, KPD).
- Kansal et al., *Particle cloud generation with message passing GANs*, arXiv:2106.11535 (JetNet).
- Lipman et al., *Flow matching for generative modeling*, arXiv:2210.02747.
- Kingma, Welling, *Auto-encoding variational Bayes*, arXiv:1312.6114.
- Leigh et al., *PC-JeDi: diffusion for particle cloud generation in HEP*, arXiv:2303.05376.
- Butter, Plehn et al., *Machine learning and LHC event generation*, arXiv:2203.07460 (review).
- Paganini, de Oliveira, Nachman, *CaloGAN*, arXiv:1712.10321 (fast calorimeter simulation).
""")

nb.write("04_generative_models.ipynb")
