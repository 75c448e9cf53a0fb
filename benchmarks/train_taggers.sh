#!/usr/bin/env bash
# Train the zoo's top taggers one after the other (feature MLPs about 1 min each; ParticleNet 14 min
# and ParT-lite 12 min on 2 CPU cores, both with the rotation augmentation), each capped by
# --minutes; logs in data/checkpoints/logs/.
# LorentzNet's 35 epochs need a GPU (benchmarks/train_on_gpu.sh); its 6-epoch CPU recipe takes
# 28 min: --model lorentznet --minutes 30. From the repository root:
#     nohup bash benchmarks/train_taggers.sh > /tmp/taggers.log 2>&1 &
set -euo pipefail
mkdir -p data/checkpoints/logs
for model in mlp7 expert_mlp particlenet part; do
    .venv/bin/python -m jetkit.models.tagger_training --model "$model" --minutes 28 \
        2>&1 | tee "data/checkpoints/logs/${model}_top_qcd.log"
done
