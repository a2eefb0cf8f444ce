#!/usr/bin/env bash
# Plots a run's curves from its metrics.jsonl (and eval.jsonl when present) into
# <run>/curves.png with gnuplot: reward, accuracy, format rate, response length and KL over
# steps; eval accuracy (greedy pass@1) as points on the accuracy panel.
#   scripts/plot_run.sh RUN_DIR [OUT.png]
set -euo pipefail
run="${1:?usage: scripts/plot_run.sh RUN_DIR [OUT.png]}"
out="${2:-$run/curves.png}"
metrics="$run/metrics.jsonl"
[ -s "$metrics" ] || { echo "plot_run.sh: no metrics in $metrics" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# JSONL -> whitespace-separated columns; a missing or null value becomes NaN (gnuplot skips it).
cols='[.step, .["reward/mean"], .["acc/mean"], .["format/mean"], .["resp_len/mean"], .["kl/mean"]]'
jq -r "$cols | map(if . == null then \"NaN\" else tostring end) | join(\" \")" "$metrics" >"$tmp/m.dat"
eval_plot=""
eval_fmt=""
if [ -s "$run/eval.jsonl" ]; then
  jq -r '[.step, .["eval/acc_pass1"], .["eval/format"]] | map(if . == null then "NaN" else tostring end) | join(" ")' \
    "$run/eval.jsonl" >"$tmp/e.dat"
  eval_plot=", '$tmp/e.dat' using 1:2 with linespoints pt 7 lw 2 title 'eval acc (greedy pass@1)'"
  eval_fmt=", '$tmp/e.dat' using 1:3 with linespoints pt 7 lw 2 title 'eval format'"
fi

gnuplot <<GP
set terminal pngcairo size 1400,900 font ",10" noenhanced
set output '$out'
set multiplot layout 2,3 title "$(basename "$run")"
set grid
set xlabel 'step'
set key top left
set title 'reward'
plot '$tmp/m.dat' using 1:2 with lines lw 2 title 'reward/mean'
set title 'accuracy'
set yrange [0:1]
plot '$tmp/m.dat' using 1:3 with lines lw 2 title 'train acc/mean'$eval_plot
set title 'format rate'
plot '$tmp/m.dat' using 1:4 with lines lw 2 title 'format/mean'$eval_fmt
set autoscale y
set title 'response length (tokens)'
plot '$tmp/m.dat' using 1:5 with lines lw 2 title 'resp_len/mean'
set title 'KL to reference'
plot '$tmp/m.dat' using 1:6 with lines lw 2 title 'kl/mean'
unset multiplot
GP
echo "$out"
