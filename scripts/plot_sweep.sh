#!/usr/bin/env bash
# Plots a sweep's eval accuracy curves (written by `grpo sweep-report DIR` as
# DIR/eval_acc.tsv: a header "step<TAB>group...", one row per eval step, NaN where a group
# has no value) into one PNG with gnuplot: one line per group, with a legend below the plot.
#   scripts/plot_sweep.sh CURVES.tsv OUT.png [TITLE]
set -euo pipefail
data="${1:?usage: scripts/plot_sweep.sh CURVES.tsv OUT.png [TITLE]}"
out="${2:?usage: scripts/plot_sweep.sh CURVES.tsv OUT.png [TITLE]}"
title="${3:-eval accuracy}"
[ -s "$data" ] || { echo "plot_sweep.sh: no data in $data" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "plot_sweep.sh: gnuplot is not installed" >&2; exit 3; }
ncol=$(head -n 1 "$data" | awk -F'\t' '{print NF}')
[ "$ncol" -ge 2 ] || { echo "plot_sweep.sh: $data has no group column" >&2; exit 2; }
# The y axis from 0 to a bit above the largest accuracy (0.1 when all are 0, gnuplot would
# otherwise warn about an empty range).
ymax=$(awk -F'\t' 'NR > 1 { for (i = 2; i <= NF; i++) if ($i != "NaN" && $i + 0 > m) m = $i + 0 }
  END { y = m > 0 ? m * 1.1 : 0.1; print (y > 1.02 ? 1.02 : y) }' "$data")
# Quotes in the title would end gnuplot's string.
title="${title//\"/\'}"

gnuplot <<GP
set terminal pngcairo size 1200,800 font ",10" noenhanced
set output '$out'
set datafile separator "\t"
# A group without a value at a step (other eval steps, an unfinished run) is skipped there
# and its line joins its neighbours.
set datafile missing "NaN"
set title "$title: eval accuracy (greedy pass@1), mean over seeds"
set xlabel 'step'
set ylabel 'eval/acc_pass1'
set yrange [0:$ymax]
set grid
set key below
plot for [i=2:$ncol] '$data' using 1:i with linespoints lw 2 pt 7 title columnheader(i)
GP
echo "$out"
