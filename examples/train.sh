#!/bin/sh
# A stand-in for a training script: takes a model, a learning rate and a
# seed, logs a few "epochs", and reports its result as a JSON object in
# $EXP_RESULT (exp-run would also take the last JSON line of stdout).
set -eu
model=$1 lr=$2 seed=$3
echo "training $model with lr=$lr seed=$seed (attempt ${EXP_ATTEMPT:-1})"
loss=$(awk -v lr="$lr" -v seed="$seed" -v m="$model" 'BEGIN {
    base = (m == "mlp") ? 0.9 : 0.7
    for (epoch = 1; epoch <= 3; epoch++) {
        base = base * (1 - lr) + 0.01 * seed
        printf "epoch %d loss %.4f\n", epoch, base > "/dev/stderr"
    }
    printf "%.4f", base
}')
sleep 0.2
printf '{"loss": %s, "epochs": 3}\n' "$loss" > "${EXP_RESULT:-/dev/stdout}"
