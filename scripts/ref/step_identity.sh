#!/usr/bin/env bash
# scripts/ref/step_identity.sh BIN TAG: hashes of a GRPO binary's trained weights and metrics (issue 19:
# the same before and after a refactor of the step). Trains 10 steps of the default config and a
# 2-process torchrun run under $OUT (default /tmp/step_identity) and prints md5s of the last
# checkpoint's model and optimizer and of metrics.jsonl / eval.jsonl without time/* and tokens/s.
# The default config needs its base model: run `grpo pretrain configs/r1zero_tiny.yaml` first.
set -euo pipefail
bin=$(realpath "$1"); tag=$2
mkdir -p "${OUT:-/tmp/step_identity}"
cd "$(dirname "$0")/../.."
"$bin" train configs/r1zero_tiny.yaml trainer.total_steps=10 run.output_dir=${OUT:-/tmp/step_identity} run.name=default_$tag run.resume=never run.overwrite=true > ${OUT:-/tmp/step_identity}/default_$tag.log 2>&1
OMP_NUM_THREADS=1 ~/.cache/grpo/venv/bin/torchrun --no-python --nproc-per-node 2 "$bin" train configs/r1zero_tiny.yaml trainer.total_steps=4 trainer.prompts_per_step=4 run.threads=1 run.output_dir=${OUT:-/tmp/step_identity} run.name=dp2_$tag run.resume=never run.overwrite=true > ${OUT:-/tmp/step_identity}/dp2_$tag.log 2>&1
for r in default dp2; do
  d=${OUT:-/tmp/step_identity}/${r}_$tag
  last=$(ls -d $d/checkpoints/step_* | sort -V | tail -1)
  echo "$r $tag weights $(md5sum < $last/model.safetensors | cut -c1-32) optimizer $(md5sum < $last/optimizer.safetensors | cut -c1-32)"
  echo "$r $tag metrics $(jq -S -c 'del(.["tokens/s"]) | with_entries(select(.key | startswith("time/") | not))' $d/metrics.jsonl | md5sum | cut -c1-32) eval $(jq -S -c 'with_entries(select(.key | startswith("time/") | not))' $d/eval.jsonl | md5sum | cut -c1-32)"
done
