#!/bin/sh
# Build exp and run a real sweep end to end: init, add a grid, run it in a
# pool of 2 workers, inspect it, and read the results. Safe to run again:
# each run starts a fresh experiment under target/quickstart.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
PATH="$PWD/target/release:$PATH"
EXP_DIR="$PWD/target/quickstart/sweep"
export EXP_DIR
rm -rf "$EXP_DIR"

exp-init --name quickstart --description "lr x model x seed on a toy trainer" \
    --naming '{model}-lr{lr}-s{seed}' --default seed=0 \
    -- "$PWD/examples/train.sh" '{model}' '{lr}' '{seed}'
exp-add --grid model=mlp,cnn --grid lr=0.1,0.3 --grid seed=0..1 > /dev/null
exp-run -j 2
exp-status
echo
echo "the cnn configs, from exp-status --json through jq:"
exp-status --json | jq -r 'select(.params.model == "cnn") | "\(.name)\t\(.status)\t\(.duration)s"'
echo
echo "results_summary.csv, best loss first:"
sort -t, -k5,5n "$EXP_DIR/results_summary.csv"
