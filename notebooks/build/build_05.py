"""Source of notebooks/05_fpga_quantization.ipynb (execute the result with
`python benchmarks/notebooks.py 05_ --write`)."""


from nbbuild import Notebook

nb = Notebook()
md, code = nb.md, nb.code

md(r"""
# 05 · FPGA quantization: from a float tagger to bit-exact fixed point and an hls4ml project

The LHC collides bunches every 25 ns. The **Level-1 trigger** has to decide within a few
microseconds, in custom hardware, which of those 40 million collisions per second are worth
keeping; a neural network that runs there must finish in **~100 ns** and fit next to everything
else on an **FPGA**. FPGAs do not do float32 well: they do integer arithmetic on exactly as many
bits as you ask for. [hls4ml](https://fastmachinelearning.org/hls4ml/) (arXiv:1804.06913) turns
a trained network into FPGA firmware; this notebook takes a jet tagger all the way there.

**What you will learn**
- how fixed-point numbers `ap_fixed<W, I>` work, and why rounding and overflow modes matter;
- post-training quantization (PTQ) versus **quantization-aware training** (QAT, arXiv:2006.10159)
  with straight-through gradients, and **magnitude pruning**;
- what a design costs on an FPGA: surviving multiplications, effective bit operations (EBOPs,
  arXiv:2405.00645), DSPs, LUTs, latency, and the accuracy-versus-cost Pareto front;
- **learned precision** (HGQ): a trainable bit width for every weight and every layer input,
  with the FPGA cost in the loss, and where the bits go;
- how to **prove** that an integer emulation computes exactly what the firmware computes, and
  check it against hls4ml's C simulation of the generated HLS project.

**Prerequisites:** notebook 00 (the jet5 dataset and its 16 high-level features) and a first
neural network (an MLP, cross-entropy, Adam). No FPGA experience needed; `g++` for the hls4ml
part (Binder has it).

**Time:** about 55 min to read and do the two exercises; running everything takes about a minute
on 2 CPU cores (hls4ml's C++ build included). Set `JETKIT_SCALE=full` to train longer and scan
more precisions.
""")

code(r"""
%matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

from jetkit import data, exercises, fpga, metrics, plotting, train
from jetkit.models import MLP
from jetkit.fpga import FixedType, QMLP, QuantConfig

plotting.style()
FULL = os.environ.get("JETKIT_SCALE", "small") == "full"
EPOCHS_FLOAT, EPOCHS_QAT, EPOCHS_HGQ, BATCH = (60, 30, 30, 512) if FULL else (20, 6, 6, 512)
""")

md(r"""
## 1. A float baseline on 16 high-level features

The tagger sees the 16 hls4ml-style high-level features of each jet (groomed mass, energy
correlation ratios, multiplicity, ...; notebook 00) and tells gluon, quark, top, W and Z jets
apart: the task of the original hls4ml paper. The features live on very different scales (masses
in GeV, ratios near 0.1), so we **standardise** them, $z = (x - \mu)/\sigma$, with $\mu, \sigma$
from the training set. On an FPGA this affine map is not free: either the features arrive
standardised (and quantized) from upstream, or it is **folded** into the first layer,
$W' = W/\sigma$, $b' = b - (\mu/\sigma)\,W$. We keep the scaler explicit so both options stay open.
""")

code(r"""
jet5 = data.load("jet5")
train_set, val_set, test_set = data.split(jet5, seed=0)
scaler = fpga.Standardizer.fit(train_set.hlf)
x_train, x_val, x_test = (scaler(s.hlf) for s in (train_set, val_set, test_set))
y_train, y_val, y_test = train_set.labels, val_set.labels, test_set.labels
classes = jet5.class_names
print(f"{len(x_train):,} training, {len(x_val):,} validation, {len(x_test):,} test jets")
print("classes:", classes, " features:", len(jet5.hlf_names))
""")

md(r"""
The network is the one from the hls4ml jet-tagging papers: **16 → 64 → 32 → 32 → 5** with ReLU,
4,389 parameters. It outputs *logits*; the softmax is only needed for probabilities, not for the
decision (argmax), which matters later.
""")

code(r"""
mlp = MLP(16, 5, hidden=(64, 32, 32), rngs=nnx.Rngs(0))
history = train.fit(mlp, (x_train, y_train), (x_val, y_val), loss_fn=train.cross_entropy_loss,
                    epochs=EPOCHS_FLOAT, batch_size=BATCH, learning_rate=2e-3, seed=0,
                    description="float MLP")
logits_float = train.predict(mlp, x_test)
acc_float = metrics.accuracy(y_test, logits_float)
print(f"trained {len(history.train_loss)} epochs in {history.seconds:.1f} s, best epoch {history.best_epoch}")
print(f"float test accuracy: {acc_float:.3f}")
""")

code(r"""
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
aucs = plotting.fpga.one_vs_rest_roc(ax1, y_test, logits_float, classes)
plotting.fpga.confusion(ax2, y_test, logits_float.argmax(1), classes)
plt.tight_layout(); plt.show()
""")

code(r"""
# NBVAL_CHECK_OUTPUT
print("float accuracy > 0.6:", acc_float > 0.6)
print("every one-vs-rest AUC > 0.8:", min(aucs.values()) > 0.8)
print("top jets are the easiest (highest AUC):", max(aucs, key=aucs.get) == "t")
""")

md(r"""
Quarks and gluons, and W and Z (whose masses differ by only 11 GeV, smeared by the jet mass
resolution), are the classes the tagger confuses. That is physics, not a bug: expect ~0.65–0.75
accuracy for five classes on these features.

Before leaving the float world, the folding identity: the first layer acting on **raw** features
with $W' , b'$ gives the same pre-activations as the original layer on standardised ones.
""")

code(r"""
w1, b1 = np.asarray(mlp.layers[0].kernel.get_value()), np.asarray(mlp.layers[0].bias.get_value())
w_fold, b_fold = scaler.fold(w1, b1)
raw = test_set.hlf.astype(np.float64)
difference = np.abs((raw @ w_fold + b_fold) - (x_test.astype(np.float64) @ w1 + b1)).max()
print(f"largest difference, folded vs standardised: {difference:.1e}")
print("raw feature ranges span", f"{np.ptp(raw, axis=0).min():.2g} to {np.ptp(raw, axis=0).max():.2g}",
      "-> one fixed-point type for all raw inputs would waste bits; we feed standardised features")
""")

md(r"""
## 2. Fixed-point numbers

An `ap_fixed<W, I>` stores a **W-bit two's-complement integer** $k$ and means $k \cdot 2^{-(W-I)}$:
$I$ bits (including the sign) before the binary point, $F = W - I$ after it. So
`ap_fixed<6,3>` covers $[-4, 3.875]$ in steps (LSB) of $2^{-3} = 0.125$. Two questions decide what
the hardware does with a real number $x$:

| | mode | what happens |
|---|---|---|
| bits below the LSB | `AP_TRN` (default) | truncate toward $-\infty$ ($\lfloor x 2^F \rfloor$) |
| | `AP_RND` | round to nearest, ties toward $+\infty$ (also `RND_ZERO`, `RND_INF`, `RND_MIN_INF`, `RND_CONV` for other ties) |
| bits above the MSB | `AP_WRAP` (default) | keep the low W bits: 4.0 in `ap_fixed<6,3>` becomes −4.0 |
| | `AP_SAT` | clip to the largest / smallest value (also `SAT_ZERO`, `SAT_SYM`) |

The defaults (truncate, wrap) are the cheapest in logic and the most surprising in physics:
a large activation that wraps around changes sign. `jetkit.fpga.FixedType` implements all
seven quantization and four overflow modes; the unit tests compare them with Xilinx's own
`ap_fixed.h` C++ library on thousands of values.
""")

code(r"""
t = FixedType(6, 3, rounding="RND", overflow="SAT")
print(t, f"range [{t.min_value}, {t.max_value}], LSB {t.lsb}")
for x in (0.3, 0.3125, -0.3125, 3.9, 100.0):
    wrap = FixedType(6, 3)  # AP_TRN, AP_WRAP
    print(f"x = {x:8.4f} -> {t}: {t.values(t.codes(x)):7.4f}   {wrap}: {wrap.values(wrap.codes(x)):7.4f}")

fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
plotting.fpga.quantizer_modes(axes, width=4, integer=2)
plt.tight_layout(); plt.show()
""")

md(r"""
### Exercise 1 — write the quantizer yourself

Complete `to_fixed(x, width, integer)` so it returns the values an `ap_fixed<width, integer,
AP_RND, AP_SAT>` would hold (numpy is enough). The check tries many values, including ties
exactly halfway between two grid points and values far outside the range.
""")

code(r"""
def to_fixed(x, width, integer):
    scale = 2.0 ** (width - integer)
    return np.floor(x * scale) / scale  # truncates and never saturates: fix both

exercises.check("05_fixed_point", to_fixed)
""")

code(r"""
# Solution
def to_fixed(x, width, integer):
    scale = 2.0 ** (width - integer)
    code = np.floor(x * scale + 0.5)  # AP_RND: round half up
    code = np.clip(code, -(2 ** (width - 1)), 2 ** (width - 1) - 1)  # AP_SAT
    return code / scale

exercises.check("05_fixed_point", to_fixed)
""", hidden=True)

md(r"""
## 3. Post-training quantization (PTQ)

The simplest recipe: take the trained float weights and round them. A `QMLP` holds several
independent networks (*members*) side by side, so one object carries a whole scan. Each member
gets a `QuantConfig(bits)`: weights and biases `ap_fixed<bits, 1>` (the QKeras convention:
$|w| < 1$; biases get just enough integer bits), hidden activations `ap_fixed<bits, ⌈bits/2⌉>`,
inputs `ap_fixed<12,4>` and output logits `ap_fixed<16,6>`, all with `AP_RND` and `AP_SAT`.
Precisions are arrays inside the model, so changing them never recompiles the network.
""")

code(r"""
PTQ_BITS = [16, 12, 10, 8, 7, 6, 5, 4, 3]
ptq = QMLP.from_float(mlp, members=len(PTQ_BITS))
for e, bits in enumerate(PTQ_BITS):
    ptq.configure(QuantConfig(bits), member=e)
logits_ptq = ptq.predict(x_test)  # (jets, members, classes)
acc_ptq = [metrics.accuracy(y_test, logits_ptq[:, e]) for e in range(len(PTQ_BITS))]
for bits, acc in zip(PTQ_BITS, acc_ptq):
    print(f"PTQ {bits:2d} bits: accuracy {acc:.3f} ({acc - acc_float:+.3f} vs float)")
""")

md(r"""
## 4. Quantization-aware training and pruning

PTQ falls off a cliff below ~6 bits: the network never saw the rounding. **QAT** puts the
quantizers into training. Rounding has zero gradient almost everywhere, so the backward pass
pretends it is the identity (the *straight-through estimator*; zero outside the range of a
saturating type): the optimiser moves the hidden float weights, the forward pass always sees
their fixed-point values, and the network learns weights that survive rounding. We fine-tune
from the float weights for a few epochs.

**Pruning** removes multiplications altogether: during training the fraction $s(t)$ of weights
with the smallest magnitude in each layer is masked to zero, with $s(t)$ rising smoothly from 0
to the target over the first half of training, $s(t) = s_f\,(1-(1-t)^3)$ (Zhu & Gupta,
arXiv:1710.01878), so the network can adapt. A zero weight costs nothing on an FPGA: hls4ml
leaves the multiplication out.

All networks below, one per precision plus pruned 6-bit ones, train **at once** in one `QMLP`
(their losses are summed, their weights are independent). `restore_best=False` keeps the final
epoch, which is the one at full sparsity.
""")

code(r"""
QAT_BITS = [16, 12, 10, 8, 7, 6, 5, 4, 3] if FULL else [16, 8, 6, 5, 4, 3]
SPARSITY = [0.5, 0.7, 0.8, 0.9, 0.95] if FULL else [0.5, 0.75, 0.9]
names = [f"{b} bit" for b in QAT_BITS] + [f"6 bit {s:.0%} pruned" for s in SPARSITY]
qat = QMLP.from_float(mlp, members=len(names))
for e, bits in enumerate(QAT_BITS + [6] * len(SPARSITY)):
    qat.configure(QuantConfig(bits), member=e)
steps = EPOCHS_QAT * (len(x_train) // BATCH)
qat.schedule_pruning([0.0] * len(QAT_BITS) + SPARSITY, begin_step=0, end_step=steps // 2)
history_qat = train.fit(qat, (x_train, y_train), (x_val, y_val), loss_fn=fpga.ensemble_loss,
                        epochs=EPOCHS_QAT, batch_size=BATCH, learning_rate=1e-3, seed=1,
                        restore_best=False, description="QAT + pruning")
logits_qat = qat.predict(x_test)
acc_qat = {n: metrics.accuracy(y_test, logits_qat[:, e]) for e, n in enumerate(names)}
print(f"{len(names)} networks trained for {EPOCHS_QAT} epochs in {history_qat.seconds:.1f} s")
""")

code(r"""
fig, ax = plt.subplots(figsize=(7, 5))
plotting.fpga.accuracy_vs_bits(ax, PTQ_BITS, acc_ptq, QAT_BITS,
                             [acc_qat[f"{b} bit"] for b in QAT_BITS], acc_float)
plt.show()
""")

code(r"""
# NBVAL_CHECK_OUTPUT
loss6 = acc_float - acc_qat["6 bit"]
print("QAT 6-bit within 1 point of float:", loss6 <= 0.01)
print("QAT beats PTQ at 3 bits by > 5 points:", acc_qat["3 bit"] - acc_ptq[PTQ_BITS.index(3)] > 0.05)
print("PTQ 3-bit loses > 5 points:", acc_float - acc_ptq[PTQ_BITS.index(3)] > 0.05)
""")

code(r"""
print(f"float {acc_float:.3f} | QAT 6 bit {acc_qat['6 bit']:.3f} ({-loss6:+.3f}) | "
      f"PTQ 6 bit {acc_ptq[PTQ_BITS.index(6)]:.3f} (QKeras 6-bit anchor on the hls4ml dataset: 0.762)")
spars = [0.0] + SPARSITY
acc_sparse = [acc_qat["6 bit"]] + [acc_qat[f"6 bit {s:.0%} pruned"] for s in SPARSITY]
reached = [fpga.sparsity(qat.export(names.index(f"6 bit {s:.0%} pruned"))) for s in SPARSITY]
print("zero weights after pruning + rounding:", [f"{r:.0%}" for r in reached])
fig, ax = plt.subplots(figsize=(7, 5))
plotting.fpga.accuracy_vs_sparsity(ax, spars, acc_sparse, acc_float, bits=6)
plt.show()
""")

md(r"""
Accuracy on 7,500 test jets has a statistical uncertainty of about ±0.5 points, so differences
of a few tenths between neighbouring points are noise; the trends are not. (The anchor 0.762 is
on the hls4ml dataset, whose jets and features differ from ours: compare trends, not values.)

## 5. What does it cost on an FPGA?

In hls4ml's fully parallel `io_parallel` / `Latency` design every weight is its own multiplier,
wired to a constant. What matters:

- **multiplications that survive**: pruned weights, and weights that round to 0, vanish;
- **their bit widths**: multiplying a $b_a$-bit input by a constant with $b_w$ significant bits
  costs roughly $b_a \cdot b_w$ bit operations; we sum that into **EBOPs** (effective bit
  operations, as in HGQ, arXiv:2405.00645);
- **DSPs vs LUTs**: a constant with few nonzero digits is a handful of shifts and adds in LUTs;
  wide ones go to the FPGA's DSP blocks, of which there are only a few thousand;
- **latency**: multiplier stage + adder tree depth + register per layer at 200 MHz.

`fpga.cost.estimate` turns those rules of thumb into numbers (estimates to *compare designs*;
only synthesis gives the truth).
""")

code(r"""
rows = []
for e, name in enumerate(names):
    c = fpga.cost.estimate(qat.export(e))
    rows.append((name, acc_qat[name], c))
    print(f"{name:>17}: acc {acc_qat[name]:.3f}  mult {c.n_mult:5d}  EBOPs {c.ebops:7,d}  "
          f"DSP {c.dsp:4d}  LUT {c.lut:7,d}  latency {c.latency_ns:3.0f} ns")
fig, ax = plt.subplots(figsize=(8, 5.5))
front = plotting.fpga.pareto(ax, names, [r[2].ebops for r in rows], [r[1] for r in rows], acc_float)
plt.show()
""")

code(r"""
# NBVAL_CHECK_OUTPUT
ebops = {name: c.ebops for name, _, c in rows}
print("EBOPs fall with every bit removed:", all(ebops[f"{a} bit"] > ebops[f"{b} bit"]
                                               for a, b in zip(QAT_BITS, QAT_BITS[1:])))
print("6-bit uses >10x fewer EBOPs than 16-bit:", ebops["16 bit"] > 10 * ebops["6 bit"])
print("16-bit needs DSPs, 6-bit fits in LUTs:", rows[0][2].dsp > 0 and rows[names.index("6 bit")][2].dsp == 0)
""")

md(r"""
### Exercise 2 — pick the design

A trigger designer accepts losing **at most one point** of accuracy with respect to float and
wants the **cheapest** network (fewest EBOPs) that does that. Which of the trained networks is it?
Set `choice` to its name (one of `names`).
""")

code(r"""
results = {name: (acc, c.ebops) for name, acc, c in rows}
choice = "16 bit"
exercises.check("05_cheapest_tagger", choice, results, acc_float)
""")

code(r"""
# Solution
good = {n: v for n, v in results.items() if v[0] >= acc_float - 0.01}
choice = min(good, key=lambda n: good[n][1])
exercises.check("05_cheapest_tagger", choice, results, acc_float)
""", hidden=True)

md(r"""
## 6. Learned precision: a bit width for every weight (HGQ)

Uniform QAT gives every weight of a layer the same number of bits, but weights are not equally
important: some carry the decision, many could be coarse or gone. **High Granularity
Quantization** (HGQ, arXiv:2405.00645) makes the number of fractional bits $f$ of **every
weight**, and of every layer's input, a trainable parameter:

- forward: $q = \mathrm{round}(w\,2^{f})\,2^{-f}$ with $f$ rounded to an integer; a layer input
  is cast to `ap_fixed<I + f, I>` ($I$ calibrated on the float activations);
- backward: straight-through for the rounding of $w$ and of $f$; and since the quantization error
  $\delta = q - w$ halves with every extra bit, $\partial q / \partial f \approx -\ln 2\;\delta$;
- loss: cross-entropy $+\;\beta \cdot \mathrm{EBOPs}$, with EBOPs written as a function of the bit
  widths (input width $\times$ weight bits, summed), so the optimiser sees what each bit costs.

A weight whose $f$ falls so low that it rounds to zero is **pruned**: pruning falls out of the
bit widths, no schedule needed. $\beta$ rises over the first half of training, so the network
first learns, then sheds bits. Each member of an `HGQMLP` has its own $\beta$: one training run
gives a whole accuracy-versus-cost curve. A few epochs here show the mechanism:
""")

code(r"""
LIVE_BETAS = [2e-6, 8e-6, 3.2e-5]
hgq = fpga.HGQMLP.from_float(mlp, members=len(LIVE_BETAS))
hgq.calibrate(x_train)  # integer bits of every layer input, from the float activations
steps = EPOCHS_HGQ * (len(x_train) // BATCH)
hgq.set_beta(LIVE_BETAS, ramp_steps=steps // 2)
history_hgq = train.fit(hgq, (x_train, y_train), loss_fn=fpga.hgq_loss, epochs=EPOCHS_HGQ,
                        batch_size=BATCH, learning_rate=1e-3, seed=2, restore_best=False,
                        description="HGQ")
print(f"{len(LIVE_BETAS)} networks trained for {EPOCHS_HGQ} epochs in {history_hgq.seconds:.1f} s")
for e, beta in enumerate(LIVE_BETAS):
    live_net = hgq.export(e)
    print(f"beta {beta:.1e}: accuracy {metrics.accuracy(y_test, fpga.emulate(live_net, x_test)):.3f}  "
          f"EBOPs {fpga.cost.estimate(live_net).ebops:6,d}  (uniform 6 bit: {ebops['6 bit']:,})")
""")

md(r"""
Six epochs are not enough to converge. The **model zoo** holds both recipes trained to the end,
each for 60 epochs from the same float MLP (60 epochs on the same split):
uniform QAT at seven precisions plus five pruned networks (`qat_jet5`), and HGQ at eight values
of $\beta$ (`hgq_jet5`); `python -m jetkit.fpga.training qat|hgq` retrains them. Every accuracy
below is that of the **integer emulation** of the exported network on the test jets.
""")

code(r"""
from jetkit import zoo

qat_zoo, prepare = zoo.load("qat_jet5")
hgq_zoo, _ = zoo.load("hgq_jet5")
meta_qat, meta_hgq = zoo.describe("qat_jet5")["metadata"], zoo.describe("hgq_jet5")["metadata"]
x_zoo, zoo_float = prepare(test_set)[0], meta_qat["float_test_accuracy"]

def scan(model, members):
    # {name: (accuracy of the integer emulation, cost)} of the exported members
    nets = {name: model.export(e) for e, name in members}
    return {n: (metrics.accuracy(y_test, fpga.emulate(v, x_zoo)), fpga.cost.estimate(v)) for n, v in nets.items()}

named = list(enumerate(meta_qat["members"]))
uniform = scan(qat_zoo, [(e, n) for e, n in named if n != "float" and "pruned" not in n])
pruned = scan(qat_zoo, [(e, n) for e, n in named if "pruned" in n])
learned = scan(hgq_zoo, [(e, f"HGQ beta {b:.1e}") for e, b in enumerate(meta_hgq["betas"])])
families = {"uniform QAT": uniform, "pruned QAT": pruned, "learned precision (HGQ)": learned}
print(f"zoo float MLP: test accuracy {zoo_float:.3f}")
for label, family in families.items():
    print(label)
    for name, (acc, c) in family.items():
        print(f"  {name:>18}: acc {acc:.3f}  EBOPs {c.ebops:7,d}  LUT {c.lut:7,d}  DSP {c.dsp:3d}  "
              f"latency {c.latency_ns:3.0f} ns")
""")

code(r"""
fig, ax = plt.subplots(figsize=(8, 5.5))
plotting.fpga.pareto_families(ax, {k: ([c.ebops for _, c in f.values()], [a for a, _ in f.values()])
                                   for k, f in families.items()}, zoo_float)
plt.show()

def cheapest(family, max_loss=0.01):
    good = {n: v for n, v in family.items() if v[0] >= zoo_float - max_loss}
    return min(good, key=lambda n: good[n][1].ebops) if good else None

for label, family in families.items():
    name = cheapest(family)
    if name:
        acc, c = family[name]
        print(f"cheapest {label} within 1 point of float: {name}, accuracy {acc:.3f}, {c.ebops:,} EBOPs")
best = cheapest(learned)
ratio = min(uniform[cheapest(uniform)][1].ebops, pruned[cheapest(pruned)][1].ebops) / learned[best][1].ebops
print(f"learned precision needs {ratio:.1f}x fewer EBOPs than the cheapest uniform or pruned network")
""")

md(r"""
Where did the bits go? For the cheapest HGQ network within one point of float, per layer: the
weights' effective bits (top; 0 = pruned) and the grid $2^{-f}$ each surviving weight learned
(bottom, its fractional bits $f$), with the width of each layer's input.
""")

code(r"""
member = list(learned).index(best)
net_hgq = hgq_zoo.export(member)
widths, fracs = hgq_zoo.bit_widths(member), hgq_zoo.fractional_bits(member)
fig, axes = plt.subplots(2, len(net_hgq.layers), figsize=(14, 6))
plotting.fpga.bit_width_histograms(axes[0], widths, hgq_zoo.input_widths(member))
plotting.fpga.bit_width_histograms(axes[1], [f[w > 0] for f, w in zip(fracs, widths)],
                                   xlabel="fractional bits f", title_zero=False)
plt.tight_layout(); plt.show()
print(net_hgq.summary())
""")

md(r"""
Two things happened that nobody asked for. The penalty removed most weights (pruning), and
almost every surviving weight became $\pm 2^{k}$: **one effective bit**, a multiplication that is
just a shift of the input, free on an FPGA. What the network kept is *which* power of two: the
grids differ from weight to weight by up to seven bits inside a layer, which no single
`ap_fixed` type per layer can express in uniform QAT.
""")

code(r"""
# NBVAL_CHECK_OUTPUT
live = np.concatenate([w[w > 0] for w in widths])
print("every layer uses several weight grids (per-weight fractional bits):",
      all(len(np.unique(f[w > 0])) > 1 for f, w in zip(fracs, widths)))
print("the bit widths alone pruned weights in every layer:", all((w == 0).any() for w in widths))
print("over 90% of the surviving weights are a power of two (a shift):", np.mean(live == 1) > 0.9)
print("within one point of float, learned precision is cheaper than uniform or pruned QAT:", ratio > 1)
print("integer emulation == JAX model, HGQ network:",
      np.array_equal(fpga.emulate(net_hgq, x_zoo), hgq_zoo.predict(x_zoo)[:, member]))
""")

md(r"""
## 7. Bit-accurate emulation: what will the firmware compute?

The QAT network runs in float32 with values that happen to lie on fixed-point grids. The firmware
runs on integers. To *prove* they agree, `fpga.emulate` runs the exported network in **int64**
exactly like hls4ml's C++: quantize the inputs to integer codes, multiply integer codes,
accumulate in an accumulator wide enough never to round or overflow, and cast the sum to the
layer's result type (shift right with the rounding mode, then saturate), then ReLU.

float32 agrees with that whenever every accumulator fits into float32's 24-bit significand:
`fpga.float32_exact` checks the worst case from the types. For the 6-bit network it holds, so
the two must agree on **every** output, bit for bit.
""")

code(r"""
deploy = names.index("6 bit 50% pruned")
net = qat.export(deploy)
print(net.summary())
for layer in net.layers:
    print(f"accumulator {layer.accum_type}  (exact for {layer.weight.shape[0]} products + bias)")
emulated = fpga.emulate(net, x_test)
""")

code(r"""
# NBVAL_CHECK_OUTPUT
print("float32 exact by the worst-case bound:", fpga.float32_exact(net))
print(f"integer emulation == JAX fake-quant model on all {emulated.size:,} logits:",
      np.array_equal(emulated, logits_qat[:, deploy]))
exact = [e for e in range(len(names)) if fpga.float32_exact(qat.export(e))]
print("... and for every float32-exact network:",
      all(np.array_equal(fpga.emulate(qat.export(e), x_test), logits_qat[:, e]) for e in exact))
""")

code(r"""
wide = names.index("16 bit")
net16 = qat.export(wide)
same16 = np.mean(fpga.emulate(net16, x_test) == logits_qat[:, wide])
print(f"16 bit: float32-exact bound {fpga.float32_exact(net16)}, accumulator of the first layer "
      f"{net16.layers[0].accum_type}: identical logits {same16:.3%}")
""")

md(r"""
At 16 bits the first accumulator needs 33 bits, more than float32 holds, so the float model
rounds where the firmware does not and a few logits differ in their last bits. This is why the
integer emulation, not the float model, is the reference for the firmware.

## 8. Export the HGQ network to hls4ml and compare with its C simulation

`jetkit.fpga.hls` rebuilds a network in **Keras 3** (JAX backend) with the on-grid weights, and
converts it with hls4ml (Vitis backend, `io_parallel`, latency strategy), giving every layer its
precisions: inputs, weights, biases, results, and the exact accumulators. We export the cheapest
**HGQ** network: each layer gets the widest weight type its weights need, and every weight sits
on its own coarser grid inside it, so hls4ml's standard layers compute exactly what HGQ trained. The
output layer has **no softmax**: hls4ml's default softmax uses lookup tables that can change
the argmax (hls4ml issue 1512), and the trigger decision needs only the logits.

`compile()` builds hls4ml's **C simulation** with `g++` (no Vivado or Vitis needed): the same
C++ the HLS tools synthesise, with Xilinx's `ap_fixed` arithmetic.
""")

code(r"""
from pathlib import Path

from jetkit.fpga import hls

project = Path("hls_projects") / "jet_tagger"  # ignored by git: generated, never committed
hls_model = hls.convert(net_hgq, project, backend="Vitis", part=hls.DEFAULT_PART, clock_period=5)
build_seconds = hls.compile(hls_model)
logits_csim = hls.predict(hls_model, x_zoo)
agreement = hls.compare(logits_csim, fpga.emulate(net_hgq, x_zoo))
print(f"g++ build of the C simulation: {build_seconds:.0f} s; HLS project in notebooks/{project}")
print({k: round(v, 6) for k, v in agreement.items()})
""")

code(r"""
# NBVAL_CHECK_OUTPUT
print(f"identical logits, jetkit emulation vs hls4ml C simulation: {agreement['values_equal']:.3%} "
      f"of {logits_csim.size:,}")
print("emulation == hls4ml on >= 99.9%:", agreement["values_equal"] >= 0.999)
print("same decision (argmax) for every jet:", agreement["argmax_equal"] == 1.0)
print("firmware accuracy == the HGQ network's accuracy:",
      metrics.accuracy(y_test, logits_csim) == learned[best][0])
""")

md(r"""
The project folder is a complete HLS project: `firmware/` holds the C++ (`jet_tagger.cpp`, the
weights as headers, `parameters.h` with every type), `build_prj.tcl` runs C synthesis. With
Vitis HLS installed, `hls_model.build(csim=False, synth=True)` (or `vitis_hls -f build_prj.tcl`
in the folder) gives the real latency and resource report to compare with the estimate above.
""")

code(r"""
print(" ".join(str(p.relative_to(project)) for p in sorted(project.glob("*"))))
types = (project / "firmware" / "defines.h").read_text().splitlines()
print("\n".join(line for line in types if line.startswith("typedef ap_")))
""")

md(r"""
## 9. Explore: bits, integer bits, sparsity

The explorer quantizes one of the pruned QAT networks to any precision (as PTQ would) and
re-evaluates the test set on every slider move: **total bits** W, **integer bits** I of the
hidden activations (range versus resolution: too few and large activations saturate, too many
and small ones round to zero), and the **sparsity** of the network. Watch the ROC curves, the
accuracy and the cost (red star, against the networks trained above in grey and the zoo's HGQ
networks in purple: no uniform setting reaches them). In JupyterLab the plot is a live ipympl
canvas.
""")

code(r"""
%matplotlib widget
from jetkit.widgets import QuantizationExplorer

sparsity_members = {0.0: names.index("6 bit")}
sparsity_members.update({s: names.index(f"6 bit {s:.0%} pruned") for s in SPARSITY})
explorer = QuantizationExplorer(
    qat, x_test, y_test, classes, sparsity_members, bits=6, act_int=3, float_accuracy=acc_float,
    reference=[{"ebops": [r[2].ebops for r in rows], "accuracy": [r[1] for r in rows],
                "label": "trained here"},
               {"ebops": [c.ebops for _, c in learned.values()], "label": "HGQ (zoo)",
                "accuracy": [a for a, _ in learned.values()], "color": "tab:purple", "marker": "D"}])
explorer
""")

code(r"""
# the controls are plain ipywidgets: setting a value runs the same callback as a drag
for bits, integer in ((6, 1), (6, 5), (4, 2)):
    explorer.bits_slider.value, explorer.int_slider.value = bits, integer
    print(f"ap_fixed<{bits},{integer}> activations: accuracy {explorer.accuracy:.3f}, "
          f"EBOPs {explorer.cost.ebops:,}")
explorer.bits_slider.value, explorer.int_slider.value = 6, 3
""")

md(r"""
## Summary

- FPGA firmware computes with **fixed-point integers**; `ap_fixed<W, I>` plus a rounding and an
  overflow mode defines every value bit for bit. Truncate and wrap are the hardware defaults;
  round and saturate cost a little logic and save a lot of surprises.
- **PTQ** holds up to about 6 bits on this small network and then falls off a cliff; **QAT**
  with straight-through gradients keeps float accuracy at 6 bits (within one point here) and
  degrades gracefully below. **Pruning** removes half or
  more of the multiplications for a small cost in accuracy.
- Cost is multiplications × bit widths: the 6-bit network needs >10× fewer effective bit
  operations than 16 bits and no DSPs; the Pareto front tells you what accuracy each budget buys.
- **Learned precision** (HGQ) trains a bit width per weight and per layer input against
  cross-entropy + β·EBOPs: at equal accuracy it needs several times fewer EBOPs than the best
  uniform or pruned network, prunes by itself, and still exports to standard hls4ml layers.
- An **integer emulation** is the contract with the firmware: it equals the fake-quantized JAX
  model exactly (when float32 is exact) and hls4ml's C simulation on every test output.

**Further reading**
- J. Duarte et al., *Fast inference of deep neural networks in FPGAs for particle physics*
  (hls4ml), arXiv:1804.06913.
- C. Coelho et al., *Automatic heterogeneous quantization of deep neural networks for low-latency
  inference on the edge for particle detectors* (QKeras), arXiv:2006.10159.
- C. Sun et al., *Gradient-based automatic mixed precision quantization for neural networks on
  FPGAs* (HGQ, per-weight bit widths, EBOPs), arXiv:2405.00645.
- M. Zhu, S. Gupta, *To prune, or not to prune*, arXiv:1710.01878.
- AMD/Xilinx, *Vitis HLS user guide* (UG1399), chapter "Arbitrary precision fixed-point data
  types" for the exact rounding and overflow rules.
""")

nb.write("05_fpga_quantization.ipynb")
