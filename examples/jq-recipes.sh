#!/bin/sh
# Questions about an experiment, answered with exp-status --json and jq.
# Run on the quickstart's sweep: EXP_DIR=target/quickstart/sweep examples/jq-recipes.sh
set -eu
: "${EXP_DIR:?set EXP_DIR to an experiment}"

echo "# failed configs, with why"
exp-status --json --status failed | jq -r '"\(.name)\t\(.error)"'

echo "# the best config by loss (configs without a result left out)"
exp-status --json --status done --results | jq -s -c 'map(select(.result.loss != null)) | min_by(.result.loss) | {name, params, loss: .result.loss}'

echo "# configs that ran longer than 1.4 s"
exp-status --json | jq -r 'select(.duration != null and .duration > 1.4) | "\(.duration)\t\(.name)"'

echo "# a results table: one TSV row per done config, best first (--ignore-missing: others may still run or have failed)"
exp-summary --json --ignore-missing | jq -r 'select(.status == "done") | [.name, .params.model, .params.lr, .result.loss] | @tsv' | sort -t "$(printf '\t')" -k4 -g

echo "# rerun the failed configs of the cnn model only"
echo "exp-status --json --status failed | jq -c 'select(.params.model == \"cnn\")' | exp-run --names -"
