#!/bin/bash
# Choosing adaptation settings (docs/adaptation.md): adapt on one simulated night's labelled
# first half, score its second half at the adapted detector's own on-threshold.
#   N=1 scripts/adaptation-tune.sh NAME [crymodel adapt options...]
# Needs a night prepared by scripts/adaptation-sim.py (WORK, default its --work directory):
# WORK/nightN/labelled-episodes, second.wav, labels.tsv. Release build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/babymonitor-adaptation-sim}; N=${N:-1}
M=$ROOT/config/models; B=$ROOT/.build/release
name=$1; shift
cd "$WORK"
# The second half's labels, relative to its start (the night is cut in two 30-minute halves).
awk -F'\t' -v OFS='\t' '$1 >= 1800 && $2 <= 3600 { $1 = sprintf("%.3f", $1 - 1800); $2 = sprintf("%.3f", $2 - 1800); print }' \
    night$N/labels.tsv > night$N/second-labels.tsv
out=tune/n$N-$name; rm -rf "$out"; mkdir -p "$out"
status=0
nice -n 15 "$B/crymodel" adapt --episodes night$N/labelled-episodes --detector "$M/detector.safetensors" \
    --cause "$M/cause.safetensors" --out-dir "$out" --no-evaluate "$@" > "$out/adapt.txt" 2> "$out/adapt.err" || status=$?
echo "== $name $* (exit $status)"; sed -n '/^detector/,/^cause/p' "$out/adapt.txt" | grep -v "^cause" || true
if [ -f "$out/detector.safetensors" ]; then
    t=$("$B/crymodel" inspect "$out/detector.safetensors" | awk '$1 == "on_threshold:" { print $2 }'); t=${t:-0.97}
    nice -n 15 "$B/crymodel" detect --model "$out/detector.safetensors" --on-threshold "$t" \
        --labels night$N/second-labels.tsv night$N/second.wav 2>&1 | grep -E "^# (recall|false_alarms_per_hour)" | tr '\n' ' '
    echo " at on_threshold $t"
fi
