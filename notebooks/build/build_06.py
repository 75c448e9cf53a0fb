"""Source of notebooks/06_self_supervised.ipynb (run `python notebooks/build/build_06.py`, then
`python benchmarks/notebooks.py 06_ --write` to execute it)."""

from nbbuild import Notebook

nb = Notebook()
md, code = nb.md, nb.code

md(r"""
# 06 · Self-supervised jet representations (JetCLR) and a foundation model in miniature

Every tagger so far learned from **labels**: this jet is a top, that one is QCD. Labels come from
simulation, and simulation is not data. The LHC records billions of jets with no labels at all.
Can a network learn what a jet *is* from unlabelled jets alone, and then need only a handful of
labels for a new task? That is the idea behind **self-supervised learning** and the jet
"foundation models" the field now builds: pre-train once on a large unlabelled sample, then adapt
cheaply to tagging, anomaly detection or a new detector.

**What you will learn**
- what **augmentations** of a jet are (rotations, translations, collinear splittings, soft
  particles) and why IRC-safe augmentations make the representation respect physics;
- the **contrastive NT-Xent loss** of SimCLR/JetCLR, computed by hand on one batch;
- how a **transformer encoder** (the ParT-lite of notebook 02's family) is pre-trained on
  unlabelled jets with `train.fit`, and how the converged encoder is loaded from the zoo;
- **few-label learning**: a linear probe on the frozen representation and fine-tuning, against
  the same encoder trained from scratch, for 100 to 3500 labelled jets;
- **transfer**: the representation learned on top/QCD jets, probed on five jet classes of another
  dataset;
- how invariant the representation really is, and what its space looks like (`LatentExplorer`).

**Prerequisites:** notebook 00 (jets, constituents), notebook 02 (taggers, ROC/AUC); what a
neural network and a logistic regression are.

**Time:** about 40 min to read and do the two exercises; running everything takes about a minute
on 2 CPU cores. Set `JETKIT_SCALE=full` to pre-train longer live (GPU).
""")

code(r"""
%matplotlib inline
import os, time
import jax
import numpy as np
import matplotlib.pyplot as plt
from flax import nnx

from jetkit import data, exercises, metrics, plotting, train, zoo
from jetkit.models import contrastive, inputs, self_supervised as ssl
from jetkit.models.self_supervised_training import PRETRAIN
from jetkit.physics import kinematics
from jetkit.plotting import representation as rplot
from jetkit.widgets import LatentExplorer

plotting.style()
FULL = os.environ.get("JETKIT_SCALE", "") == "full"   # a longer live pre-training (GPU)
N_LIVE, LIVE_EPOCHS = (35000, 10) if FULL else (2048, 2)
t_start = time.perf_counter()
top_qcd = data.load("top_qcd")
tr, va, te = data.split(top_qcd, seed=0)
print(f"top_qcd: {len(tr)} training jets (we will pretend they have no labels), {len(te)} test jets")
""")

md(r"""
## 1. What should not matter: augmentations

A contrastive model never sees a label. It sees two randomly changed **views** of each jet and
learns a representation that is the same for both, and different from other jets
(JetCLR, [arXiv:2108.04253](https://arxiv.org/abs/2108.04253)). The changes say what the
representation must *ignore*:

| augmentation | what it changes | why it should not matter |
|---|---|---|
| rotation about the jet axis | every (Δη, Δφ) turned by the same angle | jets have no preferred orientation (up to small effects of colour flow and pileup) |
| translation in (η, φ) | all constituents shifted together | where the jet sits in the detector is not what kind of jet it is |
| collinear splitting | one constituent → two at the same point, pT fractions z and 1 − z | **collinear safety**: no sensible observable can tell one particle from two collinear ones |
| soft particles | a few particles of pT ≤ 1 GeV anywhere in the cone | **infrared safety**: arbitrarily soft emissions must not change the answer |
| pT smearing (20 % in the zoo model) | each pT × a random factor | detector resolution; not a symmetry, so JetCLR leaves it out |

The last column is the physics: jet mass, N-subjettiness and every IRC-safe observable are
unchanged by the third and fourth rows. A representation trained to ignore them is pushed towards
IRC-safe information. The last row is not physics but a lesson in contrastive learning: rotations
and translations leave every *pairwise* angle of a jet as it was, so without smearing the two
views share a fingerprint that identifies the jet without understanding it. The zoo model smears
every pT by about 20 % and its linear probe gets much better (section 5). All augmentations are pure
JAX functions on padded `(particles, mask)` arrays (`jetkit.physics.augmentations`), so they run
inside the compiled training step.
""")

code(r"""
key = jax.random.PRNGKey(7)
VIEWS = PRETRAIN["augmentation"]   # the zoo model's views: JetCLR's augmentations and a 20 % pT smearing
only = lambda **on: {"rotation": False, "width": 0.0, "n_split": 0, "n_soft": 0, **on}   # one step at a time
jet_p, jet_m = te.particles[:1], te.mask[:1]
views = {"original": (jet_p, jet_m),
         "rotated": ssl.view(key, jet_p, jet_m, only(rotation=True)),
         "translated (0.1)": ssl.view(key, jet_p, jet_m, only(width=0.1)),
         "8 collinear splits": ssl.view(key, jet_p, jet_m, only(n_split=8)),
         "+4 soft (< 1 GeV)": ssl.view(key, jet_p, jet_m, only(n_soft=4)),
         "20 % pT smearing": ssl.view(key, jet_p, jet_m, only(resolution=0.2)),
         "zoo view (all)": ssl.view(key, jet_p, jet_m, VIEWS)}
fig, axes = plt.subplots(1, 7, figsize=(18, 3.2))
for ax, (name, (p, m)) in zip(axes, views.items()):
    plotting.plot_constituents(ax, np.asarray(p)[0], np.asarray(m)[0], title=f"{name}\n{int(np.sum(m))} constituents")
plt.tight_layout()
plt.show()
""")

md(r"""
The collinear splits are invisible in the picture (two markers at one point) but the count goes
up; the soft particles are tiny dots; smearing only changes the marker sizes. (`ssl.view` first
gives every jet a few empty slots, so that a jet whose 64 slots are all filled can still take its
splittings.) Section 4 checks what they do
to the jet mass.
""")

md(r"""
## 2. The contrastive loss

Take a batch of B jets and two views of each: 2B vectors z = g(f(view)), where f is the encoder
(its output h is the **representation**) and g a small **projection head**. Normalise every z to
unit length and let s_ij = cos(z_i, z_j)/τ with a temperature τ = 0.1. For view i, its partner p(i)
(the other view of the same jet) is the *positive*; the other 2B − 2 views are *negatives*. The
**NT-Xent** loss of SimCLR ([arXiv:2002.05709](https://arxiv.org/abs/2002.05709)) is a softmax
cross-entropy that asks each view to pick out its partner:

$$\mathcal{L} = \frac{1}{2B}\sum_{i=1}^{2B} -\log \frac{e^{s_{i\,p(i)}}}{\sum_{j\neq i} e^{s_{ij}}}.$$

If all views are equal the loss is log(2B − 1); if each view is far closer to its partner than to
anything else it goes to 0. The negatives are what stop the trivial solution "map every jet to
the same point".

### Exercise 1: NT-Xent by hand

Below are the projections of two views of 8 jets from an untrained model. Compute the loss with
NumPy (τ = 0.1) and check it.
""")

code(r"""
model_live = ssl.ContrastiveModel(augmentation=VIEWS, rngs=nnx.Rngs(0), seed=0)
(v1p, v1m), (v2p, v2m) = model_live.views(te.particles[:8], te.mask[:8])
z1, z2 = ssl.projections(model_live, v1p, v1m), ssl.projections(model_live, v2p, v2m)
my_loss = 0.0     # replace with your NT-Xent
exercises.check("06_nt_xent", my_loss, z1, z2, 0.1);
""")

code(r"""
# Solution
z = np.concatenate([z1, z2])
z = z / np.linalg.norm(z, axis=1, keepdims=True)
s = z @ z.T / 0.1
np.fill_diagonal(s, -np.inf)                          # a view is not its own negative
B = len(z1)
partner = np.concatenate([np.arange(B, 2 * B), np.arange(B)])
log_denominator = np.log(np.sum(np.exp(s - s.max(1, keepdims=True)), axis=1)) + s.max(1)
my_loss = np.mean(log_denominator - s[np.arange(2 * B), partner])
exercises.check("06_nt_xent", my_loss, z1, z2, 0.1);
""", hidden=True)

md(r"""
## 3. Pre-training without labels

`ssl.ContrastiveModel` is the ParT-lite transformer (particle embedding, two particle-attention
blocks with the pairwise ParT interaction bias, a class-attention block; about 93 k parameters at
its default width of 48 numbers per particle) and a two-layer projection head. The augmentations are
drawn *inside* the compiled training step from a key the model carries, so every epoch sees new
views. `ssl.contrastive_loss` takes a batch `(particles, mask)`: there is no place for labels. A
short live run:
""")

code(r"""
history = train.fit(model_live, (tr.particles[:N_LIVE], tr.mask[:N_LIVE]), loss_fn=ssl.contrastive_loss,
                    epochs=LIVE_EPOCHS, batch_size=64, learning_rate=1e-3, seed=0, description="pre-training")
print(f"NT-Xent per epoch: {np.round(history.train_loss, 3)} (log(2B-1) = {np.log(127):.2f} is chance); "
      f"{history.jets_per_second:.0f} jets/s")
""")

md(r"""
Two epochs on 2000 jets only start the job. The zoo holds the same model, 64 numbers wide,
pre-trained for 32 epochs on the 35 000 training jets (32 min on 2 CPU cores; the command is below).
Its labels were never loaded into the training data.
""")

code(r"""
model, prepare = zoo.load("jetclr_top_qcd")
card = zoo.describe("jetclr_top_qcd")
meta = card["metadata"]
print(card["command"])
print(f"{meta['epochs']} epochs, {meta['seconds'] / 60:.0f} min; final NT-Xent train {meta['train_loss'][-1]}, "
      f"validation {meta['val_loss'][-1]}")
t0 = time.perf_counter()
f_test = ssl.probe_features(model, te.particles, te.mask)   # h and the mean particle token (section 5)
h_test = f_test[:, :model.encoder.dim]                       # the representation h: the first 64 numbers
print(f"representations of {len(h_test)} test jets: {h_test.shape[1]} numbers each, "
      f"{time.perf_counter() - t0:.1f} s")
""")

md(r"""
## 4. How invariant is it?

First the augmentations themselves, on 2000 test jets, with the jet four-vector as the sum of the
massless constituents: what do they do to the jet mass?
""")

code(r"""
# NBVAL_CHECK_OUTPUT
p, m = te.particles[:2000], te.mask[:2000]
def mass(q, k):
    return np.asarray(kinematics.invariant_mass(kinematics.particles_to_p4(np.asarray(q), np.asarray(k)), np.asarray(k)))
def pair_dr(q):
    q = np.asarray(q)[:, :32]
    return np.sort(np.hypot(q[:, :, None, 1] - q[:, None, :, 1], q[:, :, None, 2] - q[:, None, :, 2]).reshape(len(q), -1))
m0 = mass(p, m)
m_split = mass(*ssl.view(key, p, m, only(n_split=8)))
m_soft = mass(*ssl.view(key, p, m, only(n_soft=4)))
p_rot, m_rot = ssl.view(key, p, m, only(rotation=True))
print("collinear splitting keeps every jet mass (to 0.2 %):", bool(np.allclose(m_split, m0, rtol=2e-3)))
print("rotation keeps every pairwise dR (to 1e-5):", bool(np.abs(pair_dr(p_rot) - pair_dr(p)).max() < 1e-5))
print("rotation changes 99 % of jet masses by less than 5 % (the (eta, phi) plane is not flat):",
      bool(np.quantile(np.abs(mass(p_rot, m_rot) / m0 - 1), 0.99) < 0.05))
print("4 soft particles of < 1 GeV shift the median jet mass by less than 3 GeV:", bool(np.median(np.abs(m_soft - m0)) < 3))
""")

md(r"""
Collinear splitting is exactly safe; rotations are symmetries of the flat (Δη, Δφ) plane, but the
jet mass is computed from cosh Δη − cos Δφ, so wide jets feel the curvature at the per-cent level;
soft particles move the mass a little (δm² ≈ 2 pT,soft pT,jet (1 − cos ΔR)), and less the
softer they are: that is infrared safety.

Now the representation. A good representation h is close to the representation of an augmented version of the same jet
and far from other jets. We measure the mean cosine similarity of h(jet) and h(augmented jet),
and of h for random pairs of different jets.

### Exercise 2: cosine similarity

`h_test[:2000]` and `h_aug` are the representations of 2000 test jets and of one augmented view
of each. Compute the mean cosine similarity of each jet with its own view.
""")

code(r"""
pa, ma = ssl.view(jax.random.PRNGKey(0), te.particles[:2000], te.mask[:2000], VIEWS)
h_aug = ssl.representations(model, np.asarray(pa), np.asarray(ma))
my_similarity = 0.0    # replace with the mean cosine similarity
exercises.check("06_similarity", my_similarity, h_test[:2000], h_aug);
""")

code(r"""
# Solution
unit = lambda h: h / np.linalg.norm(h, axis=1, keepdims=True)
my_similarity = np.mean(np.sum(unit(h_test[:2000]) * unit(h_aug), axis=1))
exercises.check("06_similarity", my_similarity, h_test[:2000], h_aug);
""", hidden=True)

code(r"""
# NBVAL_CHECK_OUTPUT
sim = contrastive.representation_similarity(h_test[:2000], h_aug)
untrained_model = ssl.ContrastiveModel(rngs=nnx.Rngs(1))
untrained = contrastive.representation_similarity(ssl.representations(untrained_model, te.particles[:2000], te.mask[:2000]),
                                                  ssl.representations(untrained_model, np.asarray(pa), np.asarray(ma)))
print("after pre-training a jet is more similar to its augmented view than to another jet:", sim.paired > sim.random)
""")

code(r"""
print(f"pre-trained: cosine similarity to its augmented view {sim.paired:.3f}, to a random other jet {sim.random:.3f}")
print(f"untrained:   cosine similarity to its augmented view {untrained.paired:.3f}, to a random other jet {untrained.random:.3f}")
""")

md(r"""
## 5. Few labels: linear probe, fine-tuning, from scratch

Now the labels come back, but only a few. For n = 100, 350, 1000 and 3500 labelled training jets
(a class-balanced draw; 350 is 1 % of the training split, 3500 is 10 %) we compare

- **(a) linear probe**: a logistic regression, its L2 strength chosen by 5-fold cross-validation
  *inside* the n jets, on the frozen encoder's features: the representation h (the class token)
  and the mean of the encoder's particle tokens after its last particle block, 128 numbers. This
  is how DINOv2 (arXiv:2304.07193) evaluates its frozen vision transformer, class token and
  averaged patch tokens; (a′) is the same probe on h alone;
- **(b) fine-tuning**: the pre-trained encoder with a new output layer, all weights trained on
  the n jets (AdamW, 600 steps of 32 jets);
- **(c) from scratch**: the same encoder, randomly initialised, same recipe. Its learning rate
  (3e-4) is the best of 1e-4, 3e-4 and 1e-3 for the scratch network, so (c) is a fair baseline.

The linear probe is cheap, so we run it live on all 7 500 test jets:
""")

code(r"""
SIZES = (100, 350, 1000, 3500)
probe_live = {}
for n in SIZES:
    idx = ssl.balanced_subset(tr.labels, n, seed=0)
    f = ssl.probe_features(model, tr.particles[idx], tr.mask[idx])
    probe_live[n] = metrics.auc(te.labels, ssl.linear_probe(f, tr.labels[idx], f_test))
print("linear probe, test AUC:", {n: round(a, 3) for n, a in probe_live.items()})
""")

md(r"""
Fine-tuning and training from scratch cost minutes each, so the zoo card records the whole study
(`python -m jetkit.models.self_supervised_training evaluate`, two label draws per n, the mean is
plotted with the spread of the two draws as the error bar), and the live probe is overlaid:
""")

code(r"""
study = card["zoo"]["test_metrics"]
few = {k: study["few_label"][k] for k in ("probe", "probe_cls", "fine_tune", "scratch")}   # (a), (a'), (b), (c)
fig, ax = plt.subplots(figsize=(6.4, 4.2))
rplot.few_label_curve(ax, few, names={"probe": "(a) linear probe", "probe_cls": "(a') probe on h alone",
                                      "fine_tune": "(b) fine-tuned", "scratch": "(c) from scratch"})
ax.plot(list(probe_live), list(probe_live.values()), "k*", ms=10, label="linear probe, live (draw 0)")
ax.set_title("top vs QCD, 32 hardest constituents")
ax.legend()
plt.show()
print(rplot.few_label_table(few))
""")

md(r"""
Read the figure from the left. With 100 labels the linear probe, a logistic regression on 128
frozen numbers, reaches AUC ≈ 0.96, where the same network trained from scratch gets ≈ 0.93.
With 350 labels (1 % of the training split) the probe is at ≈ 0.976 and the scratch network at
≈ 0.96, and even with 3500 labels the probe (≈ 0.98) is ahead of training from scratch (≈ 0.97).
Two draws of the labelled jets are few: over six draws of 350 jets the probe averages 0.973
(0.968 to 0.976) and the scratch network 0.953 (0.948 to 0.960), so the third decimal moves with
the draw.
Fine-tuning the whole encoder on a few hundred jets does *worse* than the frozen probe: 600
steps on so few jets pull the encoder away from what it learned without labels, a known trait of
fine-tuning with very few labels. The class token h alone (a′) is almost as good as h with the
mean particle token.

How much the *views* matter: the model at its default width (48) pre-trained on the views of JetCLR
alone (rotations, translations, collinear splittings, soft particles, no pT smearing) reaches only ≈
0.95 with the probe at 350 labels, no better than training from scratch. Those views keep every
pairwise angle of the jet, and the NT-Xent loss falls to 0.16: the task is solved by recognising the
jet, not by understanding it. Smearing every pT by 20 % makes the task harder (the loss of the same
model stays near 0.4) and lifts its probe to ≈ 0.97; the zoo's wider encoder, trained longer, adds a
little more (`benchmarks/jetclr_views.py` compares views). Still, 32 epochs on 35 000 jets (half an
hour on a laptop) do not give the encoder every detail a supervised tagger extracts (notebook 02's
best reach 0.989 with 35 000 labels); JetCLR pre-trains for hundreds of epochs on about a million
jets, and foundation models on far more. The promise of foundation models, in a small picture: the
expensive, label-free step is done once, and the downstream task needs few labels.

How much is left for a better pre-training to gain, and how does a representation learned without
labels compare with the one physicists built by hand? The zoo card holds the same linear probe on
other features, over the same six draws of labelled jets
(`python -m jetkit.models.self_supervised_references`): the JetCLR features
given *every* training label; the same two features (class token, mean particle token) of
notebook 02's ParT-lite (the same design, 64 wide, one particle block more), trained *with* all
35 000 labels, that is, a representation that already knows the task; and the 14 expert
observables of notebook 02 (mass, N-subjettiness ratios, C2, D2, ...), alone and beside the JetCLR
features:
""")

code(r"""
ref = study["references"]
mean = lambda runs: {int(n): round(float(np.mean(a)), 3) for n, a in sorted(runs.items(), key=lambda t: int(t[0]))}
print(f"JetCLR features, all {ref['all_labels']['jets']} labels: AUC {ref['all_labels']['auc']:.3f}")
print("probe with n labels, mean of the draws (6 unless noted):")
print("  JetCLR features (2 draws)       ", mean(study["few_label"]["probe"]))
print("  14 expert observables           ", mean(ref["expert_observables"]))
print("  JetCLR + 14 expert observables  ", mean(ref["with_expert_observables"]))
print("  supervised ParT-lite features   ", mean(ref["supervised_features"]["probe"]))
""")

md(r"""
(The JetCLR row is the card's two-draw study; over six draws at 350 labels it is 0.973.) Three
lessons. At a few hundred labels the representation learned without labels is as good as the
14 observables physicists designed for jet substructure (0.973 and 0.974 at 350 labels), and the two are
not the same information: side by side they give 0.980. With every label the JetCLR probe stops at
0.983, below the 0.987 of notebook 02's ParT-lite trained on all the labels: half an hour of contrastive
learning leaves out some of what tells a top jet from a QCD jet. And the supervised features show
what the probe could do with few labels if nothing were left out: 0.98 with 100 labels, 0.985 with
350. At 350 labels JetCLR's probe has closed about 0.02 of the 0.03 between training from scratch
(0.953) and that ceiling; the rest is what longer pre-training on more jets (or other objectives,
such as masked-particle modelling, arXiv:2401.13537) is after.

## 6. Transfer to another dataset

The representation was learned on top and QCD jets at pT ≈ 600 GeV. `jet5` has five classes
(g, q, t, W, Z) at pT ≈ 1 TeV, and it was never used in pre-training. A linear probe of the same
frozen representation on 500 labelled jet5 jets (100 per class):
""")

code(r"""
jet5 = data.load("jet5")
tr5, _, te5 = data.split(jet5, seed=0)
te5 = te5[np.arange(5000)]
f5_test = ssl.probe_features(model, te5.particles, te5.mask)
idx5 = ssl.balanced_subset(tr5.labels, 500, seed=0)
f5 = ssl.probe_features(model, tr5.particles[idx5], tr5.mask[idx5])
prob5 = ssl.linear_probe(f5, tr5.labels[idx5], f5_test)
accuracy5 = np.mean(prob5.argmax(1) == te5.labels)
transfer = {k: study["transfer_jet5"][k] for k in ("probe", "scratch")}
print(f"jet5, 500 labels: linear probe accuracy {accuracy5:.3f} (5 classes, chance 0.2)")
print(rplot.few_label_table(transfer, metric="mean one-vs-rest AUC"))
""")

code(r"""
fig, ax = plt.subplots(figsize=(4.8, 4.2))
plotting.fpga.confusion(ax, te5.labels, prob5.argmax(1), jet5.class_names)
ax.set_title("jet5, linear probe on 500 labels")
plt.show()
""")

md(r"""
The top/QCD representation carries over only in part. The probe tells the five classes apart far
above chance, W, Z and top (prongs, mass) from quarks and gluons best. With 500 labels it beats an
encoder trained from scratch on the same jets (mean AUC ≈ 0.85 against ≈ 0.80), but with 2500 labels
the scratch encoder is better (≈ 0.88 against ≈ 0.87). What contrastive training on top/QCD jets at
600 GeV kept is what tells *those* jets apart; the W/Z mass difference at 1 TeV and quark against
gluon jets need information the representation was never asked to keep. This is why foundation
models pre-train on *many* jet types at once (OmniJet-α, masked particle modelling): transfer is
only as good as the variety of the pre-training sample.

## 7. The representation space

`LatentExplorer` shows 2000 test jets in the plane of the first two principal components of h,
coloured by the truth the model never saw. There is no decoder: the image on the right is the
**real jet nearest** to the point you pick in that plane (`LatentExplorer.nearest_decoder`).
Walk from a QCD jet to a top jet with the A → B slider and watch the prongs appear.
""")

code(r"""
show = te[np.arange(2000)]
images = inputs.prepare_images(show, npix=32)
explorer = LatentExplorer(
    encode=lambda x: h_test[:len(x)], decode=LatentExplorer.nearest_decoder(h_test[:2000], images),
    data=np.arange(2000), labels=show.labels, class_names=top_qcd.class_names,
    scores={"jet mass [GeV]": show.jets[:, 3]}, max_points=2000)
explorer.interp_slider.value = 0.5
explorer
""")

code(r"""
print(f"notebook ran in {time.perf_counter() - t_start:.0f} s")
""")

md(r"""
Things to try: colour by *jet mass* and see which direction of the plane carries it; re-run the
linear probe with `seed=1`, `2`, ... to see how much 100 labels scatter; switch off an
augmentation (`ssl.ContrastiveModel(augmentation={"n_split": 0})`, or the smearing with
`{"resolution": 0.0}`) and pre-train live again.

## Summary

- Self-supervised learning builds a jet representation from **unlabelled** jets: two augmented
  views of each jet, and a contrastive loss (NT-Xent) that makes their representations agree and
  those of different jets differ.
- The augmentations encode physics: rotations and translations are (approximate) symmetries;
  collinear splittings and soft particles leave every IRC-safe observable unchanged, which we
  checked on the jet mass.
- A ParT-lite transformer pre-trained this way on 35 000 top/QCD jets gives a representation on
  which a *linear* classifier with 100 labels tags tops (AUC ≈ 0.96), better than the same
  network trained from scratch on 100, 350, 1000 or 3500 labels. The views decide it: without a
  pT smearing, views that keep every pairwise angle make the contrastive task too easy and the
  probe no better than training from scratch.
- Transfer to another dataset and task (five classes at 1 TeV) works only in part: the
  representation keeps what separated its own pre-training jets, which is why foundation models
  pre-train on many jet types at once.
- The representation is invariant where it should be: cosine similarity ≈ 1 to an augmented
  view, small for random pairs of jets.

**Further reading**
- JetCLR, symmetries, safety and self-supervision: arXiv:2108.04253
- SimCLR and the NT-Xent loss: arXiv:2002.05709; alignment and uniformity: arXiv:2005.10242
- AnomCLR, contrastive learning for anomaly detection: arXiv:2301.04660
- Masked particle modelling: arXiv:2401.13537; OmniJet-α, a generative foundation model: arXiv:2403.05618
- Particle Transformer (ParT): arXiv:2202.03772; class attention (CaiT): arXiv:2103.17239
""")

nb.write("06_self_supervised.ipynb")
