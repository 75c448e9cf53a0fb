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
and, above all, measures them with the metrics the field has agreed on. Two first attempts treat
a jet as an ordered list; the third treats it as what it is, a *set* of particles.

**What you will learn**
- how fast Pythia 8 + FastJet makes jets on this machine, and how fast a learned generator does;
- a **variational autoencoder** (VAE) and a **flow-matching** model for jets of up to 30
  constituents, and how variable multiplicity is handled with a mask when sampling;
- why a jet generator should be **permutation invariant**, and a particle-cloud generator (a
  transformer over particles trained with flow matching) that is;
- how conditioning on a jet-level quantity (the mass) changes what a metric can tell you;
- the evaluation metrics of arXiv:2211.10295: **W1M**, **W1P**, **FPD** and **KPD**, always
  next to their *truth-vs-truth* value, with bootstrap uncertainties;
- which metric catches which failure (smeared mass, wrong multiplicity, dropped modes).

**Prerequisites:** notebook 00 (jets, constituents, masks); the idea of a neural network and of
a loss function. Notebook 03 introduces autoencoders in more depth.

**Time:** about 45 min to read and do the two exercises; running everything takes about a minute
(pretrained checkpoints from the model zoo stand in for the long trainings; short live trainings
show the loops).
""")

code(r"""
%matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
from flax import nnx

from jetkit import exercises, metrics, parallel, plotting, train, zoo
from jetkit.data.generate import pythia_jets_per_second, recorded_jets_per_cpu_second
from jetkit.models import generative as gen
from jetkit.models import generative_training as training
from jetkit.models import particle_cloud as pc
from jetkit.physics import images
from jetkit.widgets import LatentExplorer

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
What did the VAE learn? `LatentExplorer` shows the test jets in the plane of the first two
principal components of their latent means μ, coloured by jet mass. **Click** on the plane (or
move the *latent x/y* sliders) to decode that point into a jet and see its core (pT fraction per
pixel within 0.4 of the axis, rotated to the principal axis as in notebook 00); pick two jets A
and B and walk between them with the **A → B** slider. Heavy jets (much wide-angle radiation) lean towards one side of the cloud but do not
separate from light ones: four latent numbers, a Gaussian prior and a blurry decoder keep only a
coarse summary of a jet, and the decoded images are all core (section 7 shows what that does to
the mass). (The widget does not render on GitHub: run the notebook.)
""")

code(r"""
x_test, _, nfrac_test = gen.model_inputs(test_jets.particles, test_jets.mask, std)
mass_test = metrics.generative.jet_mass(test_jets.particles, test_jets.mask)
encode = nnx.jit(lambda m, x, c: m.encode(x, c)[0])              # the latent mean mu
decode = nnx.jit(lambda m, z, c: m.decode(z, c))

def vae_jet_image(x):               # one decoded 90-vector -> 32x32 image of the core (|d| < 0.4)
    p, m = gen.to_particles(np.asarray(x)[None], [30], std)
    return np.asarray(images.jet_image(p, m, npix=32, extent=0.4, rotate=True, flip=True, normalise=True))[0]

explorer = LatentExplorer(
    encode=lambda x: np.asarray(encode(vae, x, nfrac_test[:len(x)])),
    decode=lambda z: np.asarray(decode(vae, np.asarray(z, np.float32), np.ones((len(z), 1), np.float32))),
    data=x_test, labels=np.zeros(len(x_test), int), class_names=["gluon"],
    scores={"jet mass [GeV]": mass_test}, to_image=vae_jet_image, extent=0.4, max_points=1500)
explorer.color_select.value = "jet mass [GeV]"
explorer
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
`python -m jetkit.models.generative_training` trained with the same code and fixed seeds.
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
## 4. Model 3: a generator that knows a jet is a set

Both models so far see a jet as a *list*: slot 1 is the hardest particle, slot 2 the next, and
each slot has its own standardisation and its own weights in the first layer. But a jet is a
**set** of particles: nothing physical changes when its constituents are listed in another
order. A list model has to learn from data that all 30 slots hold the same kind of object,
and the pT ordering makes neighbouring slots strongly dependent, so the model spends its
capacity on bookkeeping instead of physics.

The set generators of the field (MPGAN arXiv:2106.11535, EPiC-GAN arXiv:2301.08128, GAPT
arXiv:2211.10295, EPiC-FM and PC-Droid arXiv:2310.00049, 2307.06836) build the symmetry into the
network. Here the velocity field of flow matching is a small **transformer over particles**
(`pc.ParticleCloudFlow`): each particle (log pT, Δη, Δφ), standardised with *one* mean and
width for all particles, is embedded on its own; masked self-attention lets every particle look
at all real ones; there is no positional encoding. The network is therefore **permutation
equivariant**: shuffle the input particles and the output velocities are shuffled the same way.
Noise is drawn per particle, so the generated set has no order at all; we sort by pT only at the
end, for display. The only jet-level input is the multiplicity n (padded slots get no noise,
no loss, and stay exactly zero).

Check the symmetry on real jets, for this model and for the MLP flow of section 3 (whose input
slots we shuffle the same way):
""")

code(r"""
cloud, cloud_prepare = zoo.load("particle_cloud_gluon")       # sha256-checked, EMA weights
cloud_meta = zoo.describe("particle_cloud_gluon")["metadata"]
x4, m4, n4 = cloud_prepare(test_jets.particles[:4], test_jets.mask[:4])
perm, t_half = np.random.default_rng(0).permutation(30), np.full(4, 0.5, np.float32)
velocity = nnx.jit(lambda m, *a: m(*a))
v, v_shuffled = (np.asarray(velocity(cloud, x4[:, o], m4[:, o], t_half, n4)) for o in (slice(None), perm))
cloud_change = np.abs(v_shuffled - v[:, perm]).max() / np.abs(v).max()
xf = gen.model_inputs(test_jets.particles[:4], test_jets.mask[:4], std)[0].reshape(4, 30, 3)
vf, vf_shuffled = (np.asarray(velocity(flow, xf[:, o].reshape(4, 90), t_half, np.ones((4, 1), np.float32)))
                   .reshape(4, 30, 3) for o in (slice(None), perm))
flow_change = np.abs(vf_shuffled - vf[:, perm]).max() / np.abs(vf).max()
print(f"relative change of the velocities when the particles are listed in another order: "
      f"set model {cloud_change:.1e}, MLP flow {flow_change:.2f}")
""")

code(r"""
# NBVAL_CHECK_OUTPUT
print("set model: shuffling the particles only shuffles the velocities:", cloud_change < 1e-4)
print("MLP flow on the list: shuffling changes the velocities themselves:", flow_change > 0.1)
""")

md(r"""
Training is the same regression as in section 3, now per particle and on real particles only.
A few dozen steps run live; the zoo model trained for much longer
(`python -m jetkit.models.generative_training --model cloud`, about an hour on 2 CPU cores,
fixed seeds, EMA weights).
""")

code(r"""
cloud_std = cloud_prepare.standardiser                          # one (mean, std) for all particles
live = training.build_cloud(dict(cloud_meta, dim=32, n_blocks=2))  # a small copy, trained live
cloud_train = pc.cloud_inputs(train_jets.particles[:2048], train_jets.mask[:2048], cloud_std)
hist_cloud = train.fit(live, cloud_train, loss_fn=pc.cloud_flow_loss, epochs=40 if FULL else 2,
                       batch_size=128, learning_rate=1e-3, seed=0, description="set model")
print(f"live training: {hist_cloud.steps} steps in {hist_cloud.seconds:.0f} s, training loss "
      f"{hist_cloud.train_loss[0]:.3f} -> {hist_cloud.train_loss[-1]:.3f}")
print(f"zoo model: {cloud_meta['steps']} steps of {cloud_meta['batch_size']} jets, "
      f"{cloud_meta['seconds'] / 60:.0f} min on 2 CPU cores")
cloud_jets = pc.sample_cloud(cloud, mult, cloud_std, n_slots=30, seed=1, steps=cloud_meta["ode_steps"])
""")

md(r"""
### Straightening the paths: one reflow

The set model is good, but each jet costs 16 midpoint steps = 32 passes through a transformer.
Why so many? Flow matching pairs every jet with an *independent* noise draw, so the straight
training lines from noise to jets cross each other; the velocity field learns their average,
and its trajectories are curves. Few large steps cut the corners, and the jets come out wrong.

**Reflow** (rectified flow, Liu, Gong, Liu, arXiv:2209.03003) fixes the pairing: let the
trained model carry noise x₀ to its own jets x₁ (32 midpoint steps), then train a copy on
exactly these pairs. Paths between such coupled pairs do not cross, so the new field's
trajectories are nearly straight and three midpoint steps (6 network calls) follow them
(`python -m jetkit.models.generative_training --model reflow`, 21 minutes on 2 CPU cores after
the hour of the first model; zoo entry `particle_cloud_gluon_reflow`). Watch the two models
with the *same* noise and very few Euler steps, and the average curvature of their paths
(how far the midpoint of a trajectory is from the midpoint of the straight line from its start
to its end, in standardised units):
""")

code(r"""
reflow, _ = zoo.load("particle_cloud_gluon_reflow")             # same network, reflowed
reflow_meta = zoo.describe("particle_cloud_gluon_reflow")["metadata"]
paths = {name: pc.trajectories(m, mult[:300], n_slots=30, seed=5, steps=16) for name, m in
         (("set model", cloud), ("reflowed", reflow))}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharex=True, sharey=True)
for ax, (name, (xs, m_)) in zip(axes, paths.items()):
    for j in range(8):                                      # the 8 first particles of jet 0
        ax.plot(xs[:, 0, j, 1], xs[:, 0, j, 2], "-", lw=1.2)
        ax.plot(xs[-1, 0, j, 1], xs[-1, 0, j, 2], "ko", ms=3)
    ax.set_title(f"{name}: path bend {pc.path_bend(xs, m_):.3f}")
    ax.set_xlabel(r"standardised $\Delta\eta$")
axes[0].set_ylabel(r"standardised $\Delta\phi$")
plt.tight_layout()
plt.show()
for name, m in (("set model", cloud), ("reflowed", reflow)):
    jets = pc.sample_cloud(m, mult, cloud_std, n_slots=30, seed=1, steps=2, solver="euler")
    print(f"{name:10s} 2 Euler steps (2 network calls): W1M = "
          f"{metrics.generative.w1m(*jets, test_jets.particles, test_jets.mask):5.1f} GeV")
reflow_jets = pc.sample_cloud(reflow, mult, cloud_std, n_slots=30, seed=1, steps=reflow_meta["ode_steps"],
                              solver=reflow_meta["solver"])
""")

md(r"""
Each line is one particle's path from its noise draw to its place in the jet (black dot), in the
standardised (Δη, Δφ) plane. The first model's paths swing round: the velocity at the start
points towards the *average* of all jets the noise could become, and only later towards this
one. After the reflow they are nearly straight, the path bend drops by more than an order of
magnitude, and even two Euler steps give a reasonable mass distribution, where the first model
misses completely. From here on the reflowed model samples with 3 midpoint steps (6 network
calls per jet); its jets join every figure and table below.
""")

md(r"""
## 5. A different lesson: conditioning on the jet mass

As section 7 will show, the MLP flow gets each particle's spectrum right but the jet mass, which
depends on *pairs* of particles, only roughly. A standard remedy in fast simulation
(PC-JeDi, arXiv:2303.05376; EPiC-FM) is to **condition on jet-level quantities**: the generator
learns p(constituents | n, m) and the jet's (n, m) are drawn from training jets (in a real fast
simulation they would come from a cheap jet-level model). Same architecture, one more input,
trained by `python -m jetkit.models.generative_training --with-mass`. Keep in mind what this means for
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
## 6. Why bother: jets per second

Same machine, same cell: the full chain Pythia 8 + FastJet + truth matching for a handful of
gluon events (most events give no jet in the window, which is part of the real cost), then the
MLP flow (16 midpoint steps = 32 network evaluations per jet), the set model (16 midpoint
steps too, but each evaluation is a transformer over 30 particles: about 50 times the arithmetic
of the MLP) and the reflowed set model (3 midpoint steps = 6 evaluations). A timing of a few
dozen events is dominated by Pythia's start-up, so the fair reference is the steady-state rate
the dataset's own generation recorded (`data/MANIFEST.json`: thousands of events, CPU seconds of
one core). The generators here use both cores, so we quote their speed-up twice: per jet against
Pythia running in one process, and per CPU core.
""")

code(r"""
pythia = pythia_jets_per_second("g", events=50)
steady = recorded_jets_per_cpu_second("g")             # jets per CPU second, no start-up
cores = parallel.available_cores()
samplers = {"MLP flow": lambda n: gen.sample_flow(flow, np.full(n, 30), std, seed=2),
            "set model": lambda n: pc.sample_cloud(cloud, np.full(n, 30), cloud_std, n_slots=30, seed=2,
                                                   steps=cloud_meta["ode_steps"]),
            "set model, reflowed": lambda n: pc.sample_cloud(reflow, np.full(n, 30), cloud_std, n_slots=30, seed=2,
                                                             steps=reflow_meta["ode_steps"],
                                                             solver=reflow_meta["solver"])}
print(f"Pythia 8 + FastJet, this run: {pythia['jets']} jets in {pythia['seconds']:.1f} s "
      f"= {pythia['jets_per_second']:.1f} jets/s (start-up included); steady state: {steady:.1f} jets/s per core")
speedup = {}
for name, sampler in samplers.items():
    rate = gen.time_sampler(sampler, n=500, repeats=2)
    speedup[name] = rate["jets_per_second"] / steady
    print(f"{name:20s} {rate['jets_per_second']:6.0f} jets/s on {cores} cores: {speedup[name]:5.0f}x Pythia's steady "
          f"rate, {speedup[name] / cores:5.0f}x per core  ({rate['jets_per_second'] / pythia['jets_per_second']:.0f}x this run)")
""")

code(r"""
# a timing: not output-checked (it depends on the machine's load)
print("each learned generator is more than 10x faster than Pythia + FastJet:", min(speedup.values()) > 10)
""")

md(r"""
## 7. Looking before measuring

Six sets of 1500 jets each: held-out Pythia jets, the VAE, the MLP flow, the set model, the
reflowed set model and the mass-conditioned flow. Look at the jet mass
first: it depends on *pairs* of particles (m² ≈ Σ pT,i pT,j ΔR²ᵢⱼ), so a model that gets every
particle's spectrum right can still get the mass wrong.
""")

code(r"""
samples = {"Pythia (test)": (test_jets.particles, test_jets.mask), "VAE": vae_jets,
           "MLP flow": flow_jets, "set model": cloud_jets, "set model, reflowed": reflow_jets,
           "flow | n, m": flow_m_jets}
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
fig, axes = plt.subplots(1, 6, figsize=(24, 4.0))
for ax, (name, (p, m)) in zip(axes, samples.items()):
    img = images.average_image(p[:600], m[:600], npix=32, extent=0.8)   # 600 jets each
    plotting.plot_jet_image(ax, img, extent=0.8, label="mean pT fraction", title=name)
plt.tight_layout()
plt.show()
""")

md(r"""
Average images of jets centred, rotated to their principal axis and flipped (as in notebook 00)
tell a story the 1-D histograms hide. Real gluon jets are elongated along the principal axis:
the hardest emission defines a direction. The two MLP flows reproduce the core and the spread
of radiation, but their average is round: they do not line a jet's radiation up along one axis,
a correlation between particles. The **set model's average jet is elongated like Pythia's**:
attention lets every particle see where the others went. The VAE squeezes everything into the
core: blurry samples and masses that are far too low.

## 8. The metrics

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
              "MLP flow": flow_jets, "set model": cloud_jets, "set model, reflowed": reflow_jets,
              "flow | n, m": flow_m_jets}
table = metrics.generative.evaluate(reference, candidates, n_boot=30 if FULL else 8, seed=0)
print(metrics.generative.format_table(table))
""")

code(r"""
# NBVAL_CHECK_OUTPUT
va, fl, cl, fm = (table[k] for k in ("VAE", "MLP flow", "set model", "flow | n, m"))
print("set model beats the MLP flow on the list in W1M, W1P and FPD:", all(cl[k][0] < fl[k][0] for k in ("W1M", "W1P", "FPD")))
print("set model, told only n, gets the mass closer than the flow told each jet's mass:", cl["W1M"][0] < fm["W1M"][0])
print("MLP flow beats the VAE in W1M, W1P and FPD:", all(fl[k][0] < va[k][0] for k in ("W1M", "W1P", "FPD")))
rf = table["set model, reflowed"]
print("reflowed set model (6 network calls per jet) beats the MLP flow (32) in W1M, W1P and FPD:",
      all(rf[k][0] < fl[k][0] for k in ("W1M", "W1P", "FPD")))
""")

md(r"""
Read the set model's row against the truth-vs-truth row, not against zero: its W1P is as small
as the difference between two Pythia samples, its W1M is within about one and a half times the
truth-vs-truth value (the bootstrap errors of both are over 1 GeV), and its FPD and KPD are
close to their truth-vs-truth values, where the MLP flows are a hundred times off. Same
objective (flow matching), same data, an hour of training on a laptop CPU: the difference is the
symmetry. What it costs is speed: about 50 times the arithmetic per jet of the MLP flow, so on a
laptop CPU it makes one or two hundred jets per second instead of thousands (section 6). The
reflowed set model buys most of that back: its paths are nearly straight, so 6 network calls
replace 32 and its row stays within the bootstrap errors of the set model's, a little worse in
FPD and KPD. Fewer steps still (one step, through distillation or consistency training) is where
the field is now.
""")

md(r"""
## 9. Which metric catches which failure?

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
- A jet is a **set**: a permutation-equivariant network (here a transformer over particles, no
  positional encoding, masked attention) treats every particle alike, and with flow matching it
  generates the correlations between particles (the jet mass) far better than the same objective
  on a pT-ordered list, conditioned on nothing but the multiplicity.
- Conditioning on jet-level quantities (n, m) is a different tool: it fixes what an
  unconditional model misses, at the price of needing those quantities from somewhere, and of
  W1M then testing consistency rather than the generator.
- **Reflow** re-pairs noise and jets through the trained model itself; the retrained field's
  paths are nearly straight, and a few steps (here 6 network calls instead of 32) sample it.
- Judge generators with **W1M, W1P, FPD and KPD together**, each beside its truth-vs-truth value
  with bootstrap errors: particle-level and jet-level metrics catch different failures.
- Next steps: conditioning on jet kinematics (pT, η) for fast simulation, one-step sampling
  (distillation, consistency models), and the JetNet benchmark at the full 150 constituents.

**Further reading**
- Kansal et al., *Evaluating generative models in high energy physics*, arXiv:2211.10295
  (W1M, W1P, FPD, KPD).
- Kansal et al., *Particle cloud generation with message passing GANs*, arXiv:2106.11535 (JetNet).
- Lipman et al., *Flow matching for generative modeling*, arXiv:2210.02747.
- Liu, Gong, Liu, *Flow straight and fast: learning to generate and transfer data with rectified
  flow*, arXiv:2209.03003 (reflow).
- Buhmann et al., *EPiC-ly fast particle cloud generation with flow-matching and diffusion*,
  arXiv:2310.00049; Buhmann, Kasieczka, Thaler, *EPiC-GAN: equivariant point cloud generation
  for particle jets*, arXiv:2301.08128; Leigh et al., *PC-Droid*, arXiv:2307.06836.
- Kingma, Welling, *Auto-encoding variational Bayes*, arXiv:1312.6114.
- Leigh et al., *PC-JeDi: diffusion for particle cloud generation in HEP*, arXiv:2303.05376.
- Butter, Plehn et al., *Machine learning and LHC event generation*, arXiv:2203.07460 (review).
- Paganini, de Oliveira, Nachman, *CaloGAN*, arXiv:1712.10321 (fast calorimeter simulation).
""")

nb.write("04_generative_models.ipynb")
