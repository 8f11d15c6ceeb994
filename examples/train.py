#!/usr/bin/env python3
"""A stand-in for a training script, written the way exp likes commands to be.

- Its params come as flags (from the command template) and all of them as
  JSON in $EXP_PARAMS.
- It prints one progress line per epoch and appends the epoch's metrics,
  one JSON object a line, to $EXP_METRICS (exp-run shows the last one
  beside each busy worker, exp-status beside each running config, and
  `exp-summary --metrics` gives the curves); its final metrics go to
  $EXP_RESULT as one JSON object.
- On SIGUSR1 it writes where it is to $EXP_STATUS_FILE, for exp-snapshot
  --signal USR1.
- On SIGTERM it saves a checkpoint and exits 0 *without* a result: exp then
  records the config as interrupted (todo), and the next run resumes it.
- It honours the cache contract, so `exp-run --replay NAME` reruns it
  exactly: its one slow, random call ("data statistics", standing for a
  dataset scan or an LLM request) is kept in $EXP_CACHE_DIR, keyed by its
  inputs. EXP_CACHE_MODE=record computes and stores it, replay reads it
  only (a miss is an error, never a silent recompute), off neither.

Standard library only.
"""
import argparse
import hashlib
import json
import math
import os
import random
import signal
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="mlp")
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--epochs", type=int, default=4)
args = parser.parse_args()

cache_dir = os.environ.get("EXP_CACHE_DIR")
metrics_path = os.environ.get("EXP_METRICS")
cache_mode = os.environ.get("EXP_CACHE_MODE", "off")
checkpoint = os.path.join(os.environ.get("EXP_CONFIG_DIR", "."), "checkpoint.json")
state = {"epoch": 0, "loss": None}


def cached(key, compute):
    """The cache contract: one file per call, named by a hash of its inputs."""
    path = cache_dir and os.path.join(cache_dir, hashlib.sha256(key.encode()).hexdigest()[:16] + ".json")
    if cache_mode == "replay":
        try:
            with open(path) as f:
                return json.load(f)
        except OSError:
            sys.exit(f"replay: no cached answer for {key!r} in {cache_dir}")
    value = compute()
    if cache_mode == "record" and path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(value, f)
        os.replace(tmp, path)
    return value


def data_statistics():
    """Slow and random: what a replay must not compute again."""
    time.sleep(0.2)
    return {"noise": random.random() * 0.05}


def on_usr1(signum, frame):
    path = os.environ.get("EXP_STATUS_FILE")
    if path:
        with open(path, "w") as f:
            f.write(f"epoch {state['epoch']}/{args.epochs}, loss {state['loss']}\n")


def on_term(signum, frame):
    with open(checkpoint, "w") as f:
        json.dump(state, f)
    print(f"stopped at epoch {state['epoch']}: checkpoint saved", file=sys.stderr)
    sys.exit(0)  # no result: exp records the config as interrupted, not done


signal.signal(signal.SIGUSR1, on_usr1)
signal.signal(signal.SIGTERM, on_term)

if os.path.exists(checkpoint):
    with open(checkpoint) as f:
        state.update(json.load(f))
    print(f"resuming from epoch {state['epoch']}")

stats = cached(f"statistics seed={args.seed}", data_statistics)
base = {"mlp": 1.0, "cnn": 0.8}.get(args.model, 1.2)
if args.lr >= 1.0:
    print(f"loss diverged at lr={args.lr}", file=sys.stderr)
    sys.exit(1)
for epoch in range(state["epoch"] + 1, args.epochs + 1):
    time.sleep(0.25)
    loss = base * math.exp(-args.lr * epoch * 3) + stats["noise"] + 0.01 * args.seed
    state.update(epoch=epoch, loss=round(loss, 4))
    print(f"epoch {epoch}/{args.epochs} loss {state['loss']}", flush=True)
    if metrics_path:
        # One whole line per write, so a reader never sees half of one.
        with open(metrics_path, "a") as f:
            f.write(json.dumps({"epoch": epoch, "loss": state["loss"], "lr": args.lr}) + "\n")

result = {"loss": state["loss"], "epochs": args.epochs, "noise": round(stats["noise"], 5)}
with open(os.environ.get("EXP_RESULT", "/dev/stdout"), "w") as f:
    json.dump(result, f)
if os.path.exists(checkpoint):
    os.remove(checkpoint)
