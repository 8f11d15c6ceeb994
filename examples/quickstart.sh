#!/bin/sh
# Build exp and run a real sweep end to end: a toy trainer (examples/train.py)
# over model x learning rate x seed, two workers, then what exp-status, jq
# and exp-summary tell about it, and its HTML report. Safe to run again:
# each run starts a fresh experiment under target/quickstart. Needs python3
# and jq.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
PATH="$PWD/target/release:$PATH"
EXP_DIR="$PWD/target/quickstart/sweep"
export EXP_DIR
rm -rf "$EXP_DIR"

exp-init --name quickstart --description "model x lr x seed on a toy trainer" \
    --naming '{model}-lr{lr}-s{seed}' --default seed=0 \
    -- python3 examples/train.py --model '{model}' --lr '{lr}' --seed '{seed}'
exp-add --grid model=mlp,cnn --grid lr=0.1..0.3:0.1 --grid seed=0..1 > /dev/null
exp-run -j 2
echo
exp-status
echo
echo "the three best configs by loss, from exp-status --json --results through jq:"
exp-status --json --results | jq -r 'select(.result.loss != null) | "\(.result.loss)\t\(.name)"' | sort -n | head -3
echo
echo "exp-summary --timing (also in $EXP_DIR/results_summary.csv):"
exp-summary --timing
echo
echo "each model and lr over its two seeds (n, mean and sample std), from exp-summary --over seed:"
exp-summary --over seed
echo
exp-summary --html "$EXP_DIR/report.html" 2>/dev/null
echo "the report, one offline page to open in a browser: $EXP_DIR/report.html"
