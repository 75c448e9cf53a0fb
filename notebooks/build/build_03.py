"""Source of notebooks/03_anomaly_detection.ipynb (run `python notebooks/build/build_03.py`, then
`python benchmarks/notebooks.py 03_ --write` to execute it)."""

from nbbuild import Notebook

nb = Notebook()
md, code = nb.md, nb.code

md(r"""
# 03 · Anomaly detection with autoencoders

Most searches at the LHC look for one specific signal. But what if new physics looks like nothing
we have simulated? **Model-agnostic** searches train only on what we know, the background (here
QCD jets), and flag whatever does not look like it. An **autoencoder** learns to compress and
rebuild background jets; a jet it cannot rebuild is a candidate anomaly.

**What you will learn**
- where unsupervised anomaly detection sits next to supervised and weakly supervised searches;
- how to train an autoencoder (AE) and a variational autoencoder (VAE) on QCD jet images, and the
  three scores they give: reconstruction error, the KL term, and the decoder-free latent score
  R_z used for 40 MHz FPGA triggers;
- how to evaluate on signals never seen in training (top, W, Z jets) *fairly*, at the same jet pT;
- a mass-conditioned density (a mixture density network) that finds two-prong W and Z jets;
- weak supervision: CWoLa on mixed samples in a bump hunt, scanned in the signal fraction, with
  the significance improvement ε_S/√ε_B;
- why autoencoders flag *complex* jets rather than *new* ones (the complexity bias);
- how to explore a latent space interactively with `LatentExplorer`.

**Prerequisites:** notebook 00 (jets, jet images); what a neural network and a ROC curve are.

**Time:** about 50 min to read and do the three exercises; running everything takes about a minute
on a laptop CPU (set `JETKIT_SCALE=full` to train on all jets for longer with a GPU).
""")

code(r"""
%matplotlib inline
import functools, os, time
import numpy as np
import matplotlib.pyplot as plt
from flax import nnx

from jetkit import data, exercises, metrics, plotting, stats, train
from jetkit.models import autoencoders, inputs
from jetkit.models.autoencoders import AE, VAE, ae_loss, vae_loss
from jetkit.widgets import LatentExplorer

plotting.style()
FULL = os.environ.get("JETKIT_SCALE", "") == "full"   # more jets, more epochs (GPU)
N_TRAIN, N_TEST, N_TEST5, EPOCHS = (None, None, None, 40) if FULL else (5000, 3000, 5000, 5)
NPIX, LATENT, HIDDEN = 16, 8, 64                        # 16x16 images, 8 latent numbers
""")

md(r"""
## 1. Why unsupervised?

Three ways to search for a new particle that decays into jets, as compared in the LHC Olympics
2020 ([arXiv:2101.08320](https://arxiv.org/abs/2101.08320)) and the Anomaly Detection Challenge
2021 for a 40 MHz trigger ([arXiv:2107.02157](https://arxiv.org/abs/2107.02157)):

| | supervised | weakly supervised | unsupervised (this notebook) |
|---|---|---|---|
| trains on | labelled simulated signal vs background | *mixed* samples with different signal fractions, e.g. a signal region vs sidebands in m_jj (CWoLa, arXiv:1708.02949) | background only (or data, which is nearly all background) |
| needs a signal model | yes | no, only that the signal is localised (a bump) | no |
| sensitivity | best, for the signal it was trained on | close to supervised once the signal fraction is large enough | weakest; depends on what the score happens to find unusual |
| typical score | classifier output | classifier output of signal region vs sidebands | reconstruction error, KL, R_z, density |

The LHC Olympics R&D set had 1 M QCD dijet events and 100 k signal events
(W′ of 3.5 TeV → X (500 GeV) Y (100 GeV), both to quark pairs); the *black boxes* hid
unknown signals, one with no signal at all. Only a few submissions, of several kinds, identified
the black-box-1 signal, and the paper's lesson is that no single method wins everywhere. The ADC2021
dataset was built for the Level-1 trigger: unsupervised scores must keep a background rate of
order 10⁻⁵ within the trigger's latency, which is why a score that needs only an encoder
(R_z, section 3) matters there.

## 2. An autoencoder on QCD jet images

**Which representation?** We use **jet images**, not constituent lists. An image has a fixed size
and is invariant under permutations of the constituents by construction, so the mean squared
error between input and reconstruction is a well-defined distance. A constituent list would need
a permutation-invariant loss (Chamfer or energy mover's distance) and a graph network, which cost
far more than our CPU budget. The preprocessing of notebook 00 (center, rotate, flip, normalise to
unit sum) removes symmetries the AE would otherwise waste capacity on, and a **square-root
intensity transform** lifts the soft pixels, so the AE cannot reach a small error by drawing only
the hardest pixel.

We train on QCD jets of `top_qcd` (pT 550–650 GeV) and keep the top jets for testing.
""")

code(r"""
t0 = time.perf_counter()
top_qcd = data.load("top_qcd")
tr, va, te = data.split(top_qcd, seed=0)
qcd_train = tr.of_class("qcd")[np.arange(N_TRAIN or len(tr.of_class("qcd")))]
qcd_val = va.of_class("qcd")[np.arange(1000 if not FULL else len(va.of_class("qcd")))]
test = te[np.arange(N_TEST or len(te))]
X_train = inputs.prepare_images(qcd_train, npix=NPIX)
X_val = inputs.prepare_images(qcd_val, npix=NPIX)
X_test = inputs.prepare_images(test, npix=NPIX)
print(f"train {X_train.shape}, test {X_test.shape} ({np.bincount(test.labels)} qcd/top), "
      f"{time.perf_counter() - t0:.0f} s")
""")

code(r"""
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
for ax, name in zip(axes, top_qcd.class_names):
    mean = inputs.to_image(X_test[test.labels == top_qcd.class_names.index(name)]).mean(0)
    im = ax.imshow(mean, origin="lower", extent=(-0.8, 0.8, -0.8, 0.8), norm="log", vmin=1e-5)
    ax.set(title=f"average {name} jet", xlabel="Δη (rotated)", ylabel="Δφ (rotated)")
    fig.colorbar(im, ax=ax, label="pT fraction")
plt.tight_layout()
plt.show()
""")

md(r"""
The autoencoder is dense: 256 pixels → 64 → **8** → 64 → 256. The bottleneck is the point:
8 numbers are enough to describe a typical QCD jet (one hard core, some radiation) but not the
three-prong pattern of a top. We minimise the mean squared error with `train.fit`; the anomaly
score of a jet is its own reconstruction error.
""")

code(r"""
ae = AE((NPIX, NPIX), latent_dim=LATENT, hidden=(HIDDEN,), rngs=nnx.Rngs(0))
hist_ae = train.fit(ae, (X_train,), (X_val,), loss_fn=ae_loss, epochs=EPOCHS, batch_size=256,
                    learning_rate=2e-3, seed=0, description="AE on QCD")
scores_ae = autoencoders.anomaly_scores(ae, X_test)
print(f"AE: {len(hist_ae.train_loss)} epochs in {hist_ae.seconds:.0f} s, "
      f"val MSE {hist_ae.val_loss[-1]:.2e}")
""")

code(r"""
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
plotting.hist_by_class(axes[0], np.log10(scores_ae["MSE"]), test.labels, top_qcd.class_names,
                       bins=50, xlabel="log10 reconstruction MSE [a.u.]")
axes[0].set_title("AE trained on QCD only")
i = np.flatnonzero(test.labels == 1)[0]
axes[1].imshow(np.hstack([inputs.to_image(X_test[i]), inputs.to_image(ae(X_test[i:i + 1])[0])]),
               origin="lower", extent=(-0.8, 2.4, -0.8, 0.8), norm="log", vmin=1e-4)
axes[1].set(title="a top jet (left) and its reconstruction (right)", xlabel="Δη (rotated, two panels)",
            ylabel="Δφ (rotated)")
plt.tight_layout()
plt.show()
""")

md(r"""
## 3. A variational autoencoder and three scores

A VAE ([arXiv:1312.6114](https://arxiv.org/abs/1312.6114)) encodes a jet into a Gaussian
q(z|x) = N(μ, σ²) and is trained on squared error + β·KL(q ‖ N(0, 1)). That gives three scores:

- **MSE**: the reconstruction error of the decoded mean, as for the AE;
- **KL** = ½ Σ (μ² + σ² − 1 − ln σ²): how far the jet's posterior is from the prior;
- **R_z** = Σ μ²/σ² ([arXiv:2108.03986](https://arxiv.org/abs/2108.03986)): the distance of the
  encoded mean from the origin in units of its own uncertainty. It **needs no decoder**, which
  halves the network that must run in the trigger: this is how the autoencoders of that paper fit
  into an FPGA that sees every collision, 40 million per second, within a sub-microsecond latency.
""")

code(r"""
vae = VAE((NPIX, NPIX), latent_dim=LATENT, hidden=(HIDDEN,), rngs=nnx.Rngs(0))
hist_vae = train.fit(vae, (X_train,), (X_val,), loss_fn=functools.partial(vae_loss, beta=1.0),
                     epochs=EPOCHS, batch_size=256, learning_rate=2e-3, seed=0, description="VAE on QCD")
scores_vae = autoencoders.anomaly_scores(vae, X_test)
rows_top = (metrics.anomaly.evaluate(test.labels, scores_ae, name="AE")
            + metrics.anomaly.evaluate(test.labels, scores_vae, name="VAE"))
print(metrics.anomaly.format_table(rows_top))
""")

code(r"""
# NBVAL_CHECK_OUTPUT
best = max(rows_top, key=lambda r: r["AUC"])
print("best score for top vs QCD:", best["model"], best["score"])
print("AUC >= 0.85:", best["AUC"] >= 0.85)
print("beats the published CNN-AE anchor 0.77:", best["AUC"] > 0.77)
""")

md(r"""
The AE's reconstruction error separates tops from QCD best, above the published anchors on
JetNet (CNN autoencoder 0.77, GNN autoencoder 0.82; different inputs and jets, so a landmark, not
a like-for-like comparison). The VAE pays for its regularised latent space with a blurrier
reconstruction, so its MSE separates less.

Its latent scores **KL and R_z are fragile** for jet images. With this short training they flag
tops (AUC ≈ 0.8). In our development runs with a wider hidden layer (128) and a few more epochs
they fell to AUC 0.3–0.4, *worse than random*: top jets then land closer to the centre of the
latent space than many QCD jets. The encoder spends its latent directions on how QCD jets vary
(how much of the pT sits in the core), and a diffuse top image looks "average" along them.
Flipping the sign would need the signal, which a model-agnostic search does not have. R_z earned
its place in the trigger on event-level inputs (arXiv:2108.03986); whether it works depends on the
inputs, the training and the anomaly, so always compare it with the reconstruction error.

### Exercise 1: R_z by hand

`vae.encode(x)` returns `(mu, logvar)` with `logvar` = ln σ². Compute R_z for the first 500 test
jets with NumPy (one number per jet) and check it.
""")

code(r"""
mu, logvar = (np.asarray(a) for a in vae.encode(X_test[:500]))
my_rz = np.zeros(len(mu))     # replace with your R_z
exercises.check("03_rz", my_rz, mu, logvar);
""")

code(r"""
# Solution
my_rz = np.sum(mu**2 / np.exp(logvar), axis=-1)
exercises.check("03_rz", my_rz, mu, logvar);
""", hidden=True)

md(r"""
## 4. Signals never seen in training, at a fair pT

An anomaly detector should flag *any* new signal, so we test it on several. The W and Z jets of
`jet5` are at **pT ≈ 1 TeV**, while the QCD of `top_qcd` is at 600 GeV. Decay products open up by
ΔR ≈ 2m/pT, so *all* 1 TeV jets are narrower than 600 GeV ones: an AE trained at 600 GeV would
flag them for their pT, not for being W or Z, and the test would be meaningless. So we train a
**second VAE on the q + g jets of `jet5`** (same pT) and test W, Z and top jets at 1 TeV against
held-out q + g jets of the same sample.
""")

code(r"""
jet5 = data.load("jet5")
j_tr, j_va, j_te = data.split(jet5, seed=0)
qg = np.flatnonzero(np.isin(j_tr.labels, [jet5.class_names.index(c) for c in ("q", "g")]))
qg_train = j_tr[qg[:N_TRAIN]]                        # background only: quark and gluon jets
j_test = j_te[np.arange(N_TEST5 or len(j_te))]
X5_train = inputs.prepare_images(qg_train, npix=NPIX)
X5_test = inputs.prepare_images(j_test, npix=NPIX)
vae5 = VAE((NPIX, NPIX), latent_dim=LATENT, hidden=(HIDDEN,), rngs=nnx.Rngs(0))
train.fit(vae5, (X5_train,), None, loss_fn=functools.partial(vae_loss, beta=1.0), epochs=EPOCHS,
          batch_size=256, learning_rate=2e-3, seed=0, description="VAE on q+g at 1 TeV")
scores5 = autoencoders.anomaly_scores(vae5, X5_test)
rows_1tev = []
for signal in ("t", "w", "z"):
    idx, y = data.one_vs_background(j_test, signal, ("q", "g"))
    rows_1tev += metrics.anomaly.evaluate(y, {k: v[idx] for k, v in scores5.items()}, name=f"VAE5 {signal}")
print(metrics.anomaly.format_table(rows_1tev))
""")

code(r"""
# NBVAL_CHECK_OUTPUT
auc = {(r["model"], r["score"]): r["AUC"] for r in rows_top + rows_1tev}
print("top vs QCD at 600 GeV,  AE MSE AUC > 0.85:", auc[("AE", "MSE")] > 0.85)
print("top vs q+g at 1 TeV,   VAE MSE AUC > 0.75:", auc[("VAE5 t", "MSE")] > 0.75)
print("W, Z vs q+g at 1 TeV:  every AUC < 0.75:",
      all(auc[(f"VAE5 {s}", k)] < 0.75 for s in "wz" for k in ("MSE", "KL", "R_z")))
""")

code(r"""
fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
for label, s, ls in [("AE MSE", scores_ae["MSE"], "-"), ("VAE MSE", scores_vae["MSE"], "-"),
                     ("VAE KL", scores_vae["KL"], ":"), ("VAE R_z", scores_vae["R_z"], "--")]:
    fpr, tpr, _ = metrics.roc_curve(test.labels, s)
    plotting.roc_curve_plot(axes[0], eff_s=tpr, eff_b=fpr, label=label, ls=ls)
axes[0].set_title("top vs QCD, 600 GeV (trained on QCD)")
for signal in ("t", "w", "z"):
    idx, y = data.one_vs_background(j_test, signal, ("q", "g"))
    for key, ls in [("MSE", "-"), ("R_z", "--")]:
        fpr, tpr, _ = metrics.roc_curve(y, scores5[key][idx])
        plotting.roc_curve_plot(axes[1], eff_s=tpr, eff_b=fpr, label=f"{signal} ({key})", ls=ls)
axes[1].set_title("t, W, Z vs q+g, 1 TeV (trained on q+g)")
plt.tight_layout()
plt.show()
""")

md(r"""
At 1 TeV the top is still found (three prongs are complex at any pT), but **W and Z jets are
hardly flagged**: a two-prong jet at 1 TeV is not much harder to rebuild than a quark or gluon
jet, and its most distinctive property, the mass, is exactly what a pixel-wise error weighs
little. This is the honest state of image autoencoders: they find *complex* anomalies and miss
simple ones. The latent scores KL and R_z stay near (or below) random for all three signals at
1 TeV; a mass-aware input (or a decorrelated score) would be needed for W and Z.

### Exercise 2: a trigger-style threshold

A trigger must fix its background rate. Using the AE scores of the **QCD validation jets**
(`autoencoders.anomaly_scores(ae, X_val)["MSE"]`), find the threshold that lets 1 % of the background
through, then read off the top efficiency at that cut.
""")

code(r"""
val_scores = autoencoders.anomaly_scores(ae, X_val)["MSE"]
my_cut = 0.0                   # replace with your threshold
exercises.check("03_threshold", my_cut, val_scores, 0.01);
""")

code(r"""
# Solution
my_cut = np.quantile(val_scores, 0.99)
exercises.check("03_threshold", my_cut, val_scores, 0.01);
print(f"top efficiency at that cut: {np.mean(scores_ae['MSE'][test.labels == 1] > my_cut):.2f}")
""", hidden=True)

md(r"""
## 5. A score that sees two-prong jets: how unusual is this substructure *at this mass*?

Why did every score of section 4 miss W and Z? Their mass (80–100 GeV) sits in the bulk of the
quark-jet mass distribution at 1 TeV, so mass alone is not unusual; what is unusual is *how* they
got it. A QCD jet of 90 GeV gets its mass from one soft, wide-angle emission; a W gets it from
two hard prongs. The energy-correlation ratio **N2** (arXiv:1609.07483) measures two-prongness
(small = two prongs). So ask the sharper question a density model can answer: *for a QCD jet of
this mass, how likely is this N2?* We fit the density p(N2 | ln m) of q + g jets with a
**mixture density network** (Bishop 1994): an MLP maps the context ln m to the weights, means and
widths of 8 Gaussians in N2. The anomaly score is −ln p(N2 | ln m). Like the VAE, it is trained
on the q + g jets of `jet5` only; signal is never seen.
""")

code(r"""
from jetkit.models import conditional_density, weak_supervision

t0 = time.perf_counter()
x_qg, c_qg = conditional_density.two_prong_inputs(qg_train.particles, qg_train.mask, qg_train.jets[:, 3])
density, hist_density = conditional_density.fit_background_density(x_qg, c_qg, seed=0)
x5, c5 = conditional_density.two_prong_inputs(j_test.particles, j_test.mask, j_test.jets[:, 3])
score_n2 = conditional_density.anomaly_score(density, x5, c5)
print(f"p(N2 | ln m) fitted on {len(x_qg)} q+g jets ({len(hist_density.train_loss)} epochs) "
      f"and scored in {time.perf_counter() - t0:.1f} s")
rows_n2 = []
for signal in ("t", "w", "z"):
    idx, y = data.one_vs_background(j_test, signal, ("q", "g"))
    rows_n2 += metrics.anomaly.evaluate(y, {"-ln p(N2|m)": score_n2[idx], "VAE5 MSE": scores5["MSE"][idx]},
                                        name=signal)
print(metrics.anomaly.format_table(rows_n2))
""")

code(r"""
names = list(jet5.class_names)
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
mass, n2 = j_test.jets[:, 3], x5[:, 0]
for ax, classes, title in ((axes[0], ("q", "g"), "q + g (background)"), (axes[1], ("w", "z"), "W + Z (unseen signal)")):
    sel = np.isin(j_test.labels, [names.index(c) for c in classes])
    ax.hist2d(mass[sel], n2[sel], bins=(np.linspace(0, 250, 40), np.linspace(0, 0.6, 40)), cmap="viridis")
    ax.set_xlabel("jet mass [GeV]"); ax.set_ylabel(r"$N_2^{(1)}$"); ax.set_title(title, fontsize="medium")
for signal, ls in (("w", "-"), ("z", "--")):
    idx, y = data.one_vs_background(j_test, signal, ("q", "g"))
    for label, sc, color in (("-ln p(N2|m)", score_n2[idx], "C3"), ("VAE5 MSE", scores5["MSE"][idx], "C0")):
        fpr, tpr, _ = metrics.roc_curve(y, sc)
        plotting.roc_curve_plot(axes[2], eff_s=tpr, eff_b=fpr, label=f"{signal}: {label}", ls=ls, color=color)
axes[2].set_title("W, Z vs q+g at 1 TeV (trained on q+g)", fontsize="medium")
plt.tight_layout(); plt.show()
""")

code(r"""
# NBVAL_CHECK_OUTPUT
window = (mass > 70) & (mass < 100)
qg_sel = window & np.isin(j_test.labels, [names.index("q"), names.index("g")])
wz_sel = window & np.isin(j_test.labels, [names.index("w"), names.index("z")])
print("at the same mass (70-100 GeV), W and Z jets have a smaller median N2 than q+g jets:",
      np.median(n2[wz_sel]) < np.median(n2[qg_sel]))
auc5 = {(r["model"], r["score"]): r["AUC"] for r in rows_n2}
print("the mass-conditioned N2 density flags W and Z better than the image VAE:",
      all(auc5[(s, "-ln p(N2|m)")] > auc5[(s, "VAE5 MSE")] for s in "wz"))
""")

md(r"""
A one-number density conditioned on the mass finds W and Z jets that the image autoencoder
missed, because it was told what to look at: two-prongness at fixed mass. That is also its
limit: it is specific to two-prong signals (tops are found worse than by the image VAE) and it
is **not mass-decorrelated** (its rank correlation with the mass in q + g jets is about 0.55),
so a cut on it sculpts the background's mass spectrum. Unsupervised means "no signal *sample*",
never "no assumptions".

## 6. Weak supervision: classification without labels (CWoLa)

Between supervised and unsupervised sits **weak supervision**. CWoLa (arXiv:1708.02949) trains a
classifier to tell apart two *mixed* samples: M1, with some signal fraction f, and M2, with less
or none. It never sees a truth label, only "which sample". By the Neyman–Pearson lemma the best
M1-vs-M2 classifier is a monotone function of the signal/background likelihood ratio, so with
enough jets it ranks jets like a fully supervised classifier. In a **bump hunt** (CWoLa hunting,
arXiv:1805.02664; LHC Olympics, arXiv:2101.08320) M1 is a signal region of the jet (or dijet)
mass and M2 its sidebands; the classifier must then **not see the mass**, nor anything strongly
correlated with it, or it would learn "signal region" and sculpt the background into a fake bump.

Here both samples are drawn from the q + g jets of `jet5` (6 000 each), and an exact number of
W jets is injected into M1 only (`weak_supervision.mixed_samples`). The inputs are four
substructure ratios of the groomed jet, N2^(1), N2^(2), M2^(1) and ln D2^(2), whose rank
correlation with the jet mass in q + g jets is only |ρ| ≈ 0.35; the mass, the groomed mass, C1,
C2 and the multiplicity (|ρ| ≈ 0.65–0.8) are left out. The same small MLP is trained with the
truth labels for comparison (same features, same jets, same size), and both are scored against
the truth on held-out jets. The figure of merit of the LHC Olympics is the **significance
improvement** ε_S/√ε_B at fixed ε_B: how much a cut on the score multiplies s/√b.
""")

code(r"""
FRACTIONS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
idx_tr, y_tr = data.one_vs_background(j_tr, "w", ("q", "g"))
idx_te, y_te = data.one_vs_background(j_te, "w", ("q", "g"))
t0 = time.perf_counter()
rows_cwola = weak_supervision.cwola_scan(weak_supervision.bump_safe_inputs(j_tr[idx_tr]), y_tr, FRACTIONS,
                                         test_features=weak_supervision.bump_safe_inputs(j_te[idx_te]),
                                         test_labels=y_te, seed=0)
w_test = j_te[idx_te]
score_n2_w = conditional_density.anomaly_score(density, *conditional_density.two_prong_inputs(
    w_test.particles, w_test.mask, w_test.jets[:, 3]))
auc_unsup, sic_unsup = metrics.auc(y_te, score_n2_w), metrics.anomaly.significance_improvement(y_te, score_n2_w, 0.1)
print(f"{len(FRACTIONS)} CWoLa classifiers and the supervised one in {time.perf_counter() - t0:.1f} s "
      f"(W vs q+g, {len(y_te)} test jets)\n")
print(f"{'signal fraction':>16}{'W jets in M1':>14}{'AUC CWoLa':>11}{'AUC superv.':>13}{'SIC CWoLa':>11}{'SIC superv.':>13}")
for r in rows_cwola:
    print(f"{r['fraction']:>16.1%}{r['n_signal']:>14d}{r['AUC_cwola']:>11.3f}{r['AUC_supervised']:>13.3f}"
          f"{r['SIC_cwola']:>11.2f}{r['SIC_supervised']:>13.2f}")
print(f"unsupervised -ln p(N2|m) (section 5): AUC {auc_unsup:.3f}, SIC {sic_unsup:.2f}")
""")

code(r"""
frac = np.array([r["fraction"] for r in rows_cwola])
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
for ax, key, label in ((axes[0], "AUC", "test AUC (truth)"), (axes[1], "SIC", r"$\epsilon_S\,/\,\epsilon_B^{1/2}$ at $\epsilon_B$ = 0.1")):
    ax.plot(frac, [r[f"{key}_cwola"] for r in rows_cwola], "o-", label="CWoLa (sample labels)")
    ax.axhline(rows_cwola[0][f"{key}_supervised"], color="k", ls="--", label="supervised (truth labels)")
    ax.axhline(auc_unsup if key == "AUC" else sic_unsup, color="C3", ls=":", label="unsupervised -ln p(N2|m)")
    ax.axhline(0.5 if key == "AUC" else 1.0, color="grey", lw=0.5)
    ax.set_xscale("log"); ax.set_xlabel("signal fraction in M1"); ax.set_ylabel(label)
axes[0].legend(fontsize="small")
plt.tight_layout(); plt.show()
""")

code(r"""
# NBVAL_CHECK_OUTPUT
auc_cw = [r["AUC_cwola"] for r in rows_cwola]
print("more injected signal, better CWoLa classifier (lowest vs highest fraction):", auc_cw[-1] > auc_cw[0])
print("below 5 % signal the supervised classifier is better than CWoLa at every fraction:",
      all(r["AUC_supervised"] > r["AUC_cwola"] for r in rows_cwola if r["fraction"] < 0.05))
""")

md(r"""
Read the scan from the right. With 10–20 % of W jets in M1, CWoLa gets within about 10 % of the
supervised AUC without a single truth label. Below a few per cent it fails: two samples of
6 000 finite jets also differ *by chance*, and when the injected signal (30–120 jets) is smaller
than that chance difference, the classifier learns a random direction and its AUC scatters
around 0.5 (even below it). That is the real limitation of weak supervision: it needs enough
signal in the signal region, which is why the LHC Olympics methods were compared as a function of
the injected signal. The supervised AUC itself is modest (≈ 0.73) because the bump-safe inputs
throw away the mass; the unsupervised score of section 5 does better on AUC because it *uses*
the mass as its context, which a mass bump hunt is not allowed to do.

### Exercise 3: the significance improvement

Compute ε_S/√ε_B of the unsupervised score `score_n2_w` for W vs q+g (`y_te`) at ε_B = 0.1: find
the threshold that keeps 10 % of the background jets, count the fraction of W jets above it, and
divide by √0.1.
""")

code(r"""
my_sic = None  # your code here
exercises.check("03_sic", my_sic, y_te, score_n2_w, 0.1);
""")

code(r"""
# Solution
threshold = np.quantile(score_n2_w[y_te == 0], 0.9)
my_sic = np.mean(score_n2_w[y_te == 1] > threshold) / np.sqrt(0.1)
exercises.check("03_sic", my_sic, y_te, score_n2_w, 0.1);
""", hidden=True)

md(r"""
## 7. The complexity bias: train on tops, look for QCD

If the AE really found "whatever is not background", swapping the roles should work too: train
on **top** jets and call QCD the anomaly. It does not. A QCD jet (one core, little radiation) is
*simpler* than a top jet, and an AE trained on tops rebuilds simple jets well: QCD gets a *lower*
error than the tops it was trained on. The reconstruction error measures complexity (roughly the
number of bright pixels), not novelty (arXiv:2104.09051, 1808.08992).
""")

code(r"""
top_train = tr.of_class("top")[np.arange(N_TRAIN or len(tr.of_class("top")))]
ae_top = AE((NPIX, NPIX), latent_dim=LATENT, hidden=(HIDDEN,), rngs=nnx.Rngs(0))
train.fit(ae_top, (inputs.prepare_images(top_train, npix=NPIX),), None, loss_fn=ae_loss,
          epochs=EPOCHS, batch_size=256, learning_rate=2e-3, seed=0, description="AE on tops")
mse_top_ae = autoencoders.anomaly_scores(ae_top, X_test)["MSE"]
auc_inverted = metrics.auc(1 - test.labels, mse_top_ae)   # QCD is the "anomaly" now
""")

code(r"""
# NBVAL_CHECK_OUTPUT
print("AE trained on tops, QCD as anomaly: AUC < 0.5 (worse than random):", auc_inverted < 0.5)
""")

code(r"""
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
plotting.hist_by_class(axes[0], np.log10(mse_top_ae), test.labels, top_qcd.class_names, bins=50,
                       xlabel="log10 reconstruction MSE [a.u.]")
axes[0].set_title(f"AE trained on tops: QCD as anomaly, AUC = {auc_inverted:.2f}")
bins = np.arange(10, 131, 10)
n_const = test.n_constituents
for s, name, ls in [(scores_ae["MSE"], "AE trained on QCD", "-"), (mse_top_ae, "AE trained on tops", "--")]:
    for c, cname in enumerate(top_qcd.class_names):
        x, m = stats.profile(n_const[test.labels == c], s[test.labels == c], bins)
        axes[1].plot(x, m, ls=ls, marker="o", ms=3, label=f"{name}: {cname} jets")
axes[1].set(yscale="log", xlabel="number of constituents", ylabel="mean reconstruction MSE [a.u.]",
            title="mean error against multiplicity")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()
""")

md(r"""
In the right panel of the last figure: for the QCD-trained AE the error of QCD jets rises
steadily with the number of constituents, and the top-trained AE rebuilds QCD jets better than
tops at *every* multiplicity. One-prong jets are simply easier to encode than three-prong ones,
whichever class the AE was trained on.
""")

md(r"""
## 8. Inside the latent space: `LatentExplorer`

The VAE squeezes each jet into 8 numbers. `LatentExplorer` shows the test jets in the plane of
the two principal components of their latent means, coloured by class or by an anomaly score.
**Click** on the plane (or move the *latent x/y* sliders) to decode that point into a jet image;
pick two jets A and B and move the **A → B** slider to walk from one to the other through latent
space. The widget is built from an encoder function and a decoder function, so notebook 04 uses
it for generative models too. (The widget does not render on GitHub: run the notebook.)
""")

code(r"""
explorer = LatentExplorer(
    encode=lambda x: np.asarray(vae.encode(x)[0]),          # the latent mean mu
    decode=lambda z: np.asarray(vae.decode(z)),
    data=X_test, labels=test.labels, class_names=top_qcd.class_names,
    scores={"log10 MSE": np.log10(scores_vae["MSE"]), "R_z": scores_vae["R_z"]},
    to_image=inputs.to_image, max_points=2000)
explorer.interp_slider.value = 0.5                          # halfway between a QCD and a top jet
explorer
""")

md(r"""
Things to try: colour by *log10 MSE* and find where the badly reconstructed jets sit; click on the
edge of the QCD cloud and on the top cloud and compare the decoded images; walk from a QCD jet to
a top jet and watch a second and third prong appear.

## Summary

- Unsupervised anomaly detection trains on background only; it needs no signal model but pays in
  sensitivity, and weakly supervised methods sit in between (LHC Olympics 2020, ADC2021).
- An AE on preprocessed, square-root-scaled QCD jet images flags top jets with an AUC above 0.85
  from the reconstruction error alone; the VAE's scores are weaker.
- The decoder-free latent score R_z (and the KL term) is cheap enough for a 40 MHz trigger, but on
  jet images it is fragile: it flags tops after a short training and can fall below random after
  a longer one. Compare scores; never trust one blindly.
- Fair tests compare jets at the same pT: we trained a second VAE at 1 TeV for W and Z; there the
  image AE barely finds two-prong jets.
- A density of the right observable at fixed mass, −ln p(N2 | ln m) fitted to q + g jets only,
  finds W and Z jets (AUC ≈ 0.8) where the images failed: unsupervised still means choosing what
  to look at, and this score is specific to two prongs and not mass-decorrelated.
- Weak supervision (CWoLa) learns from mixed samples without truth labels: with ≥ 10 % signal in
  the signal region it comes within about 10 % of the supervised AUC on bump-safe features; below
  a few per cent the chance difference of finite samples wins and it fails.
- Autoencoders measure complexity: trained on tops, they call QCD *less* anomalous than tops.

**Further reading**
- LHC Olympics 2020 community report: arXiv:2101.08320
- LHC physics dataset for unsupervised New Physics detection at 40 MHz (ADC2021): arXiv:2107.02157
- Autoencoders on FPGAs for real-time unsupervised new physics detection (R_z): arXiv:2108.03986
- QCD or What? (autoencoders for jets): arXiv:1808.08979; Searching for new physics with deep
  autoencoders: arXiv:1808.08992
- The complexity bias (train on tops, look for QCD): arXiv:2104.09051; a normalized autoencoder
  that avoids it: arXiv:2206.14225
- Classification without labels (CWoLa): arXiv:1708.02949; auto-encoding variational Bayes: arXiv:1312.6114
""")

nb.write("03_anomaly_detection.ipynb")
