#!/usr/bin/env bash
# The zoo's longer trainings on one GPU, all at once (each model is small: a GPU runs several side
# by side). Each run is capped (--minutes, then `timeout`) and writes into RESULTS (default
# ./gpu_results), which is packed into RESULTS.tar.gz at the end; nothing in data/ is touched.
# Copy the checkpoints you keep into data/checkpoints/ and record them with
# `python -m jetkit.zoo record` (see docs/ZOO.md). From the repository root:
#     PYTHON=python3 bash benchmarks/train_on_gpu.sh /tmp/gpu_results
#   - LorentzNet 35 epochs (the paper's schedule) and ParT-lite with dropout 40 epochs on all 35k jets;
#   - ParticleNet 36 epochs;
#   - data efficiency with matched optimizer steps (--matched-steps) at 1k, 3k and 10k jets;
#   - JetCLR pre-trained 4x longer, then its few-label study.
set -uo pipefail
PY=${PYTHON:-.venv/bin/python}
R=${1:-gpu_results}
CAP=${CAP_SECONDS:-500}   # wall-clock cap of every run
mkdir -p "$R"
# full float32 matmuls: TF32 would round the Minkowski products (E^2 - p^2 of 500 GeV jets)
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 JAX_DEFAULT_MATMUL_PRECISION=float32
T="python -m jetkit.models.tagger_training"
run() {  # run NAME COMMAND...: in the background, logged to $R/NAME.log
    local name=$1; shift
    (timeout "$CAP" "$@" > "$R/$name.log" 2>&1; echo "exit $?" >> "$R/$name.log") &
}
"$PY" -c "import jax; print('jax', jax.__version__, jax.devices())" | tee "$R/devices.log"
run lorentznet "$PY" -m jetkit.models.tagger_training --model lorentznet --epochs 35 --minutes 6.5 --out "$R/lorentznet_top_qcd.npz"
run part "$PY" -m jetkit.models.tagger_training --model part --epochs 40 --minutes 6.5 --out "$R/part_top_qcd.npz"
run particlenet "$PY" -m jetkit.models.tagger_training --model particlenet --epochs 36 --minutes 6.5 --out "$R/particlenet_top_qcd.npz"
for m in lorentznet:35 part:40 particlenet:36 deepsets:30 cnn:30 mlp7:40 expert_mlp:40; do
    run "de_${m%%:*}" "$PY" -m jetkit.models.tagger_training --data-efficiency "${m%%:*}" --matched-steps \
        --epochs "${m##*:}" --sizes 1000 3000 10000 --minutes 2.3 --results "$R/de_${m%%:*}.json"
done
(timeout "$CAP" "$PY" -m jetkit.models.self_supervised_training pretrain --epochs 96 --minutes 4.5 \
    --out "$R/jetclr_top_qcd.npz" > "$R/jetclr.log" 2>&1 \
 && timeout 200 "$PY" -m jetkit.models.self_supervised_training evaluate --checkpoint "$R/jetclr_top_qcd.npz" \
    --out "$R/jetclr_eval.json" >> "$R/jetclr.log" 2>&1; echo "exit $?" >> "$R/jetclr.log") &
wait
tar czf "$R.tar.gz" -C "$(dirname "$R")" "$(basename "$R")"
tail -n 3 "$R"/*.log
