#!/usr/bin/env bash
# Train the zoo's particle-level top taggers one after the other (about 16 + 10 + 25 min on 2 CPU
# cores), each capped by --minutes; logs in data/checkpoints/logs/. Run from the repository root:
#     nohup bash benchmarks/train_taggers.sh > /tmp/taggers.log 2>&1 &
set -euo pipefail
mkdir -p data/checkpoints/logs
for model in particlenet part lorentznet; do
    .venv/bin/python -m jetkit.models.tagger_training --model "$model" --minutes 28 \
        2>&1 | tee "data/checkpoints/logs/${model}_top_qcd.log"
done
