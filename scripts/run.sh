#!/usr/bin/env bash
# The main job, the embedded default R1-Zero run (issue #10): set up, build, pretrain the tiny
# MoE base model if its checkpoint is missing, run GRPO from it with the format and accuracy
# rule rewards, print the eval table at the start and the end, and plot the curves.
#
#   scripts/run.sh                              the default (configs/r1zero_tiny.yaml)
#   scripts/run.sh run.seed=2 run.name=seed2    any config override, passed to every stage
#   GRPO_CONFIG=my.yaml scripts/run.sh          another config
#
# GRPO_BIN=PATH uses that binary and skips set-up and build (the test suite runs the pipeline
# this way with its own build).
#
# A finished run is not redone (run.resume: auto continues or finds nothing left to do); start
# over with `scripts/run.sh run.resume=never run.overwrite=true`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${GRPO_BIN:-}" ]]; then
  scripts/setup.sh
  scripts/build.sh
fi
grpo="${GRPO_BIN:-build/grpo}"
config="${GRPO_CONFIG:-configs/r1zero_tiny.yaml}"
start=$(date +%s)

# The run directory and the base model's directory, from the resolved config.
resolved=$("$grpo" config show "$config" "$@")
key() { # key SECTION NAME: a scalar of the resolved YAML
  awk -v s="$1:" -v k="  $2:" '$0 == s {in_s = 1; next} /^[^ ]/ {in_s = 0}
    in_s && index($0, k) == 1 {sub(k " *", ""); gsub(/"/, ""); print; exit}' <<<"$resolved"
}
run_dir="$(key run output_dir)/$(key run name)"
model_path="$(key model path)"

if [[ -n "$model_path" && ! -e "$model_path/model.safetensors" ]]; then
  echo "== base model: $model_path is missing; pretraining it (grpo pretrain)"
  "$grpo" pretrain "$config" "$@"
fi
echo "== GRPO: $run_dir"
"$grpo" train "$config" "$@"

echo "== eval (greedy pass@1 on the held-out problems; first line: before RL)"
jq -r -s '
  (["step", "acc_pass1", "format", "pass@k", "resp_len"] | @tsv),
  (.[] | [.step, .["eval/acc_pass1"], .["eval/format"],
          ([to_entries[] | select(.key | startswith("eval/pass@")) | .value][0] // "-"),
          .["eval/resp_len"]]
       | map(if type == "number" then (. * 1000 | round / 1000) else . end) | @tsv)
' "$run_dir/eval.jsonl"
scripts/plot_run.sh "$run_dir"
echo "== done in $(( $(date +%s) - start )) s: $run_dir (metrics.jsonl, eval.jsonl, curves.png)"
