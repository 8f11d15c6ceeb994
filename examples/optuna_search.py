#!/usr/bin/env python3
"""Drive an Optuna study (TPE, ask and tell) through exp: the experiment is the
study's storage, so no database, no server and no file of its own.

    examples/optuna_search.py DIR --trials N --parallel P --objective FIELD \\
        --direction minimize|maximize --dist KEY=SPEC... [--seed S] \\
        [--digits D] [--no-runner]

DIR is an experiment made by `exp-init` whose command writes a result with a
numeric FIELD (to $EXP_RESULT, or as the last JSON line of its stdout). Params
its command needs beyond the --dist keys come from the experiment's defaults
(`exp-add DIR --default KEY=VALUE`). The search:

- asks Optuna's TPE sampler (seeded by --seed) for configs and writes them,
  one JSON line each, to `exp-add DIR -f -`;
- starts `exp-run DIR --follow -j P --idle-exit 1m` in its own session,
  unless --no-runner (then other runners serve DIR: a Slurm array, another
  shell), and stops it (SIGTERM, then waits) when it ends; a runner of ours
  that ends early is started again;
- keeps P trials in flight, counting the experiment's todo and running
  configs (`exp-status DIR --counts --json`), so configs that a runner left
  from a killed search still runs count, as do hand-added ones waiting;
- reads endings from one long-lived `exp-status DIR --watch --json --results
  --status done --status failed` and tells each config's trial exactly once:
  a done config with a finite number in `result[FIELD]` is a complete trial
  with that value; a failed one, or one done without that number, a failed
  trial. A later attempt of a config already told (an `exp-clean --reset` and
  a rerun) is noted and not told again.

The --dist grammar is exp-add's, and exp-add itself checks it first (with
`exp-add DIR --dry-run`). uniform(A,B) and loguniform(A,B) are Optuna's
FloatDistribution (log=True for the latter), int(A,B) and logint(A,B) its
IntDistribution, choice(V1,...) its CategoricalDistribution. normal(MU,SIGMA)
has no Optuna counterpart and is refused (exit 2), as is a choice holding
values Python's == cannot tell apart (true and 1, false and 0).

Values. Floats are rounded to D significant digits (--digits, default 4; 0
keeps every digit) and clamped to their bounds, as exp-add rounds its draws,
so configs stay readable and two asks that round alike are one config. The
config gets the rounded value; Optuna's trial keeps the value it suggested.
An ask that lands on an existing config (exp-add answers "added": false)
adds nothing: that trial is told the config's result at once if it has
ended, or when it ends.

Trials and restarts. The study lives in memory and is rebuilt from the
experiment at every start: each config whose params fit the --dist space is
one trial, done and failed ones told at once (`rebuilt NAME: ...` on
stderr), todo and running ones pending, told when they end. A config fits
when it has every --dist key with a value inside that distribution (a
choice among its values) and no other params than the experiment's
defaults. One that does not fit (added by hand, or from a search over other
bounds) is skipped with a note: it is not a trial, Optuna never sees it, and
it does not count toward N, though while it waits or runs it holds a place
among the P in flight. The search goes on until the study holds N trials
and every one is told. An ask that repeated an existing config is a trial
of this run only: it is stored nowhere, so after a restart the study holds
one trial per config and asks again for the difference. Whatever happens,
the search adds at most N configs that fit; killed at any moment (even
SIGKILL) and started again with the same arguments, it goes on where the
experiment stands and tells no config twice. A restart that rebuilt K
trials seeds TPE with S mixed with K, not S, lest it ask its first configs
again.

Output. stderr is for people: what was asked, told, rebuilt and skipped. The
one line on stdout, last, is the best params as a JSON object, the searched
keys with their values as the experiment holds them (`{"x": 1.02, "y":
-1.98}`).

Exit status: 0 success; 1 every trial failed; 2 bad arguments (nothing
added, nothing started); 3 the experiment is missing or unreadable, or an
exp tool failed; 127 Optuna or the exp tools are not installed; 128+N
stopped by signal N (run it again to go on).

Standard library and Optuna only.
"""
import argparse
import json
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import time

PROG = "optuna_search"
# A runner of ours with nothing to do for this long ends: one left behind by
# a killed search finishes what it runs, serves a restarted search, then goes.
RUNNER_IDLE_EXIT = "1m"
# With no ending for this long, look for pending configs that were removed.
HOUSEKEEPING_EVERY = 10.0
# Say what the search waits for after this long without an ending.
QUIET_NOTE_EVERY = 60.0


def note(message):
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


class Fatal(Exception):
    """An error that ends the search: a message and an exit code."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class Stopped(Exception):
    """A signal came: stop, as the tools do, and exit 128+N."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


# --- the --dist grammar -------------------------------------------------------

KINDS = ("uniform", "loguniform", "int", "logint", "normal", "choice")


def split_top_level(text):
    """Split on commas outside double quotes and brackets, as exp-add does."""
    parts, depth, quoted, escaped, start = [], 0, False, False, 0
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\" and quoted:
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif c in "[{" and not quoted:
            depth += 1
        elif c in "]}" and not quoted:
            depth -= 1
        elif c == "," and not quoted and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def refuse_constant(name):
    raise ValueError(f"not JSON: {name}")


def grid_value(text):
    """A value as --grid reads it: JSON where it parses, else a string."""
    try:
        return json.loads(text, parse_constant=refuse_constant)
    except ValueError:
        return text


def split_spec(text):
    """`KEY=kind(args)` into (key, kind, args), or a message why not."""
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key:
        return None, f"--dist {text!r}: expected KEY=SPEC, e.g. lr=loguniform(1e-5,1e-1)"
    kind, paren, rest = spec.partition("(")
    if not paren or not rest.endswith(")"):
        return None, None  # malformed: exp-add says why, with its hint
    return (key, kind.strip(), rest[:-1]), None


def spec_values(kind, args):
    """The values of a SPEC that exp-add accepted: a choice's values, or the
    two bounds; a choice Optuna would confuse is refused."""
    if kind == "choice":
        choices = [grid_value(part.strip()) for part in split_top_level(args)]
        for i, a in enumerate(choices):
            for b in choices[:i]:
                if a == b:
                    raise ValueError(
                        f"Optuna cannot tell {json.dumps(b)} from {json.dumps(a)} in a choice "
                        "(to Python they are equal); keep one of them"
                    )
        return choices
    a, b = (part.strip() for part in args.split(","))
    if kind in ("uniform", "loguniform"):
        return float(a), float(b)
    return int(a), int(b)


def optuna_distribution(optuna, kind, values):
    """Optuna's distribution for a SPEC's kind and values."""
    dists = optuna.distributions
    if kind == "choice":
        return dists.CategoricalDistribution(values)
    if kind in ("uniform", "loguniform"):
        return dists.FloatDistribution(*values, log=kind == "loguniform")
    return dists.IntDistribution(*values, log=kind == "logint")


def describe(dist):
    """A distribution as --dist spells it, for notes."""
    name = type(dist).__name__
    if name == "FloatDistribution":
        return f"{'loguniform' if dist.log else 'uniform'}({dist.low:g},{dist.high:g})"
    if name == "IntDistribution":
        return f"{'logint' if dist.log else 'int'}({dist.low},{dist.high})"
    return "choice(" + ",".join(json.dumps(c) for c in dist.choices) + ")"


# --- values -----------------------------------------------------------------


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same(a, b):
    """JSON equality as exp's identity has it: 1 == 1.0, but true != 1."""
    if is_number(a) and is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def round_digits(x, digits):
    """x to `digits` significant digits, as exp-add rounds (its decimal text
    read back, round half to even); 0 keeps every digit."""
    if digits == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits - 1}e}")


class Space:
    """The --dist keys, their Optuna distributions and the experiment's defaults."""

    def __init__(self, keys, dists, defaults, digits):
        self.keys = keys
        self.dists = dists
        self.defaults = defaults
        self.digits = digits

    def config_params(self, suggested):
        """What a config gets for Optuna's suggestion: floats rounded and clamped."""
        params = {}
        for key in self.keys:
            value, dist = suggested[key], self.dists[key]
            if type(dist).__name__ == "FloatDistribution":
                value = min(max(round_digits(float(value), self.digits), dist.low), dist.high)
            params[key] = value
        return params

    def fit(self, params):
        """A config's params as trial params, or (None, why) when they do not fit."""
        for key, value in params.items():
            if key in self.dists:
                continue
            if key not in self.defaults:
                return None, f"its param {key} is not searched"
            if not same(value, self.defaults[key]):
                return None, f"its {key}={json.dumps(value)} is not the default {json.dumps(self.defaults[key])}"
        fitted = {}
        for key in self.keys:
            if key not in params:
                return None, f"it has no {key}"
            value, dist = params[key], self.dists[key]
            outside = f"its {key}={json.dumps(value)} is outside {describe(dist)}"
            kind = type(dist).__name__
            if kind == "CategoricalDistribution":
                matches = [choice for choice in dist.choices if same(choice, value)]
                if not matches:
                    return None, outside
                fitted[key] = matches[0]
                continue
            if not is_number(value) or not math.isfinite(value):
                return None, outside
            if kind == "IntDistribution":
                if value != int(value):
                    return None, outside
                value = int(value)
            else:
                value = float(value)
            if not dist.low <= value <= dist.high:
                return None, outside
            fitted[key] = value
        return fitted, None


# --- the exp tools ----------------------------------------------------------


class Tools:
    def __init__(self, exp_dir):
        # A DIR that starts with '-' would read as a flag.
        self.dir = f"./{exp_dir}" if exp_dir.startswith("-") else exp_dir
        self.paths = {}
        for tool in ("exp-add", "exp-run", "exp-status"):
            path = shutil.which(tool)
            if path is None:
                raise Fatal(f"{tool} is not on PATH (install exp, or put its binaries on PATH)", 127)
            self.paths[tool] = path

    def argv(self, tool, *args):
        return [self.paths[tool], self.dir, *args]

    def run(self, tool, *args, stdin=None, quiet_stderr=False):
        """A tool to its end: its stdout; its failure is fatal (exit 3)."""
        out = subprocess.run(
            self.argv(tool, *args),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if quiet_stderr else None,
            text=True,
        )
        if out.returncode != 0:
            if quiet_stderr and out.stderr:
                sys.stderr.write(out.stderr)
            raise Fatal(f"{tool} {' '.join(args)} failed (exit {out.returncode})", 3)
        return out.stdout

    def json_lines(self, tool, *args, **kwargs):
        return [json.loads(line) for line in self.run(tool, *args, **kwargs).splitlines() if line.strip()]


class Watch:
    """`exp-status DIR --watch --json --results --status done --status failed`,
    read line by line without blocking the search."""

    def __init__(self, tools):
        self.proc = subprocess.Popen(
            tools.argv("exp-status", "--watch", "--json", "--results", "--status", "done", "--status", "failed"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        self.fd = self.proc.stdout.fileno()
        self.buffer = b""
        self.ended = False

    def lines(self, timeout):
        """The complete lines that came within `timeout` seconds (none: [])."""
        if self.ended:
            return []
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not ready:
            return []
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.ended = True
        self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in complete if line.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait()
        self.proc.stdout.close()


class Runner:
    """Our `exp-run DIR --follow -j P`, in its own session (a Ctrl-C meant
    for the search reaches it once, from us), its output on our stderr."""

    def __init__(self, tools, parallel):
        self.tools = tools
        self.parallel = parallel
        self.proc = None
        self.crashes = 0

    def start(self):
        argv = self.tools.argv(
            "exp-run", "--follow", "-j", str(self.parallel), "--idle-exit", RUNNER_IDLE_EXIT, "--progress", "never"
        )
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sys.stderr, start_new_session=True)
        note(f"started exp-run {self.tools.dir} --follow -j {self.parallel} (pid {self.proc.pid})")

    def keep_alive(self):
        """Start it again if it ended while the search needs it."""
        if self.proc.poll() is None:
            return
        code = self.proc.returncode
        if code in (2, 3, 5):
            raise Fatal(f"exp-run ended with exit {code}", 3)
        if code not in (0, 1):
            self.crashes += 1
            if self.crashes > 5:
                raise Fatal(f"exp-run ended abnormally {self.crashes} times (last: exit {code})", 3)
        why = "idle" if code in (0, 1) else f"killed by signal {-code}" if code < 0 else f"exit {code}"
        note(f"exp-run (pid {self.proc.pid}) ended ({why}); starting another")
        self.start()

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


# --- the search ---------------------------------------------------------------


class Config:
    """A config of the experiment as the search knows it."""

    def __init__(self, name, params=None, trial=None, min_attempts=1, why=None):
        self.name = name
        self.params = params  # trial params (the searched keys), None when skipped
        self.trial = trial  # its trial's number
        self.min_attempts = min_attempts  # the first attempt whose ending is told
        self.why = why  # why it is skipped
        self.outcome = None  # ("complete", value) or ("fail", why), once told
        self.told_attempt = None
        self.waiters = []  # trials that asked for it again while it was pending


class Search:
    def __init__(self, args, optuna, space, tools):
        self.args = args
        self.optuna = optuna
        self.space = space
        self.tools = tools
        self.configs = {}
        self.study = optuna.create_study(direction=args.direction, sampler=self.sampler(0))
        self.field = args.objective
        self.sign = 1 if args.direction == "minimize" else -1
        self.best = None  # (value, config)
        self.told = 0  # trials told in all (rebuilt ones too)
        self.completed = 0
        self.watch = None
        self.watch_restarts = 0

    def sampler(self, rebuilt):
        """TPE, seeded by --seed; after a restart that rebuilt trials, by the
        seed mixed with their number, lest it ask its first configs again."""
        seed = self.args.seed
        if seed is not None and rebuilt:
            seed = (seed + rebuilt * 0x9E3779B1) % 2**32
        # The constant liar: trials in flight count as bad, so P asks at once differ.
        return self.optuna.samplers.TPESampler(seed=seed, constant_liar=True)

    # Outcomes ------------------------------------------------------------

    def outcome(self, row):
        result = row.get("result")
        if row["status"] == "done":
            value = result.get(self.field) if isinstance(result, dict) else None
            if is_number(value) and math.isfinite(value):
                return ("complete", float(value))
            return ("fail", f"done without a finite number {self.field} in its result")
        why = row.get("error") or (f"exit code {row['exit_code']}" if row.get("exit_code") is not None else "failed")
        return ("fail", f"failed: {why}")

    def says(self, outcome):
        if outcome[0] == "complete":
            return f"{self.field}={outcome[1]:g}"
        return outcome[1]

    def count(self, config, outcome):
        self.told += 1
        if outcome[0] == "complete":
            self.completed += 1
            if self.best is None or self.sign * outcome[1] < self.sign * self.best[0]:
                self.best = (outcome[1], config)

    def tell(self, number, outcome):
        state = self.optuna.trial.TrialState
        if outcome[0] == "complete":
            self.study.tell(number, outcome[1])
        else:
            self.study.tell(number, state=state.FAIL)

    def add_trial(self, params, outcome=None):
        """A trial for a config that is already in the experiment: finished
        when it has ended, else running (told when it ends)."""
        state = self.optuna.trial.TrialState
        if outcome is None:
            trial = self.optuna.trial.create_trial(
                params=params, distributions=self.space.dists, state=state.RUNNING
            )
        elif outcome[0] == "complete":
            trial = self.optuna.trial.create_trial(params=params, distributions=self.space.dists, value=outcome[1])
        else:
            trial = self.optuna.trial.create_trial(params=params, distributions=self.space.dists, state=state.FAIL)
        self.study.add_trial(trial)
        return self.study.trials[-1].number

    def progress(self):
        best = f"; best {self.field}={self.best[0]:g}" if self.best else ""
        return f"{self.told} of {self.args.trials} told{best}"

    # Rebuilding ------------------------------------------------------------

    def skip(self, name, why):
        self.configs[name] = Config(name, why=why)
        note(f"skipping {name}: {why} (not a trial of this search)")

    def rebuild(self):
        """The study from the experiment: a trial per config that fits."""
        rows = self.tools.json_lines("exp-status", "--json", "--results")
        tally = {"done": 0, "failed": 0, "pending": 0}
        for row in rows:
            name, status = row["name"], row["status"]
            params, why = self.space.fit(row["params"])
            if params is None:
                self.skip(name, why)
                continue
            config = Config(name, params)
            self.configs[name] = config
            if status in ("done", "failed"):
                outcome = self.outcome(row)
                config.trial = self.add_trial(params, outcome)
                config.outcome, config.told_attempt = outcome, row.get("attempts")
                self.count(config, outcome)
                tally[status] += 1
                note(f"rebuilt {name}: {status}, {self.says(outcome)} (trial {config.trial})")
            else:
                # The ending to tell is of its running attempt, or the next one.
                attempts = row.get("attempts") or 0
                config.min_attempts = attempts if status == "running" else attempts + 1
                config.trial = self.add_trial(params)
                tally["pending"] += 1
                note(f"rebuilt {name}: {status}, pending (trial {config.trial})")
        trials = len(self.study.trials)
        if trials:
            self.study.sampler = self.sampler(trials)
            note(
                f"rebuilt {trials} trial(s) from the experiment: {tally['done']} done, "
                f"{tally['failed']} failed, {tally['pending']} pending; {self.progress()}"
            )

    # Endings -------------------------------------------------------------

    def ended(self, row):
        """An ending from the watch: tell its config's trial, once."""
        name, attempts = row["name"], row.get("attempts") or 0
        config = self.configs.get(name)
        if config is None:
            params, why = self.space.fit(row["params"])
            if params is None:
                self.skip(name, why)
                return
            # Added by someone else meanwhile: a trial too.
            config = Config(name, params)
            self.configs[name] = config
            outcome = self.outcome(row)
            config.trial = self.add_trial(params, outcome)
            config.outcome, config.told_attempt = outcome, attempts
            self.count(config, outcome)
            note(f"adopted {name} (added outside this search): {self.says(outcome)} (trial {config.trial}; {self.progress()})")
            return
        if config.params is None:
            return
        if config.outcome is not None:
            if config.told_attempt is not None and attempts > config.told_attempt:
                note(f"{name} ended again (attempt {attempts}): its trial was told attempt {config.told_attempt}; not told again")
                config.told_attempt = attempts
            return
        if attempts < config.min_attempts:
            return  # an attempt before the one this search waits for
        outcome = self.outcome(row)
        self.tell(config.trial, outcome)
        config.outcome, config.told_attempt = outcome, attempts
        self.count(config, outcome)
        note(f"told {name}: {self.says(outcome)} (trial {config.trial}; {self.progress()})")
        for number in config.waiters:
            self.tell(number, outcome)
            self.count(config, outcome)
            note(f"trial {number} ({name}, asked again): told {self.says(outcome)} ({self.progress()})")
        config.waiters = []

    def removed(self, config):
        """A pending config that left the experiment: its trials failed."""
        outcome = ("fail", "removed from the experiment before it ended")
        self.tell(config.trial, outcome)
        self.count(config, outcome)
        note(f"told {config.name}: {outcome[1]} (trial {config.trial}; {self.progress()})")
        for number in config.waiters:
            self.tell(number, outcome)
            self.count(config, outcome)
            note(f"trial {number} ({config.name}, asked again): told {outcome[1]} ({self.progress()})")
        config.outcome, config.waiters = outcome, []

    # Asking --------------------------------------------------------------

    def pending(self):
        return [c for c in self.configs.values() if c.params is not None and c.outcome is None]

    def ask(self, count):
        """Ask `count` trials and add their configs, in one exp-add."""
        trials = [self.study.ask(self.space.dists) for _ in range(count)]
        wanted = [self.space.config_params(trial.params) for trial in trials]
        lines = "".join(json.dumps(params) + "\n" for params in wanted)
        try:
            answers = self.tools.json_lines("exp-add", "-f", "-", stdin=lines, quiet_stderr=True)
        except Fatal:
            for trial in trials:
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            raise
        if len(answers) != len(trials):
            raise Fatal(f"exp-add answered {len(answers)} line(s) for {len(trials)}", 3)
        for trial, params, answer in zip(trials, wanted, answers):
            name = answer["name"]
            config = self.configs.get(name)
            if answer.get("added"):
                self.configs[name] = Config(name, params, trial.number)
                note(f"trial {trial.number}: {name} {json.dumps(params)}")
            elif config is None:
                # Added by someone else, not yet ended: this trial stands for it.
                self.configs[name] = Config(name, params, trial.number)
                note(f"trial {trial.number}: {name} {json.dumps(params)}, already in the experiment: waits for its ending")
            elif config.outcome is not None:
                self.tell(trial.number, config.outcome)
                self.count(config, config.outcome)
                note(
                    f"trial {trial.number}: {name}, already in the experiment (ended): told its result, "
                    f"{self.says(config.outcome)} ({self.progress()})"
                )
            elif config.params is not None:
                config.waiters.append(trial.number)
                note(f"trial {trial.number}: {name}, already in the experiment (pending): waits for its ending")
            else:
                # A config that fits now but was skipped: cannot happen with
                # the same params; fail the trial rather than wait forever.
                self.tell(trial.number, ("fail", "skipped config"))
                self.count(config, ("fail", "skipped config"))
                note(f"trial {trial.number}: {name} was skipped ({config.why}): a failed trial")

    def in_flight(self):
        counts = self.tools.json_lines("exp-status", "--counts", "--json")[0]
        waiting = sum(len(c.waiters) for c in self.pending())
        return counts["todo"] + counts["running"] + waiting, counts

    # The loop ------------------------------------------------------------

    def start_watch(self):
        self.watch = Watch(self.tools)

    def pump(self, timeout):
        """Handle the endings that come within `timeout`: whether any came."""
        rows = self.watch.lines(timeout)
        if self.watch.ended:
            self.watch_restarts += 1
            if self.watch_restarts > 5:
                raise Fatal("exp-status --watch keeps ending", 3)
            note("exp-status --watch ended; starting another")
            self.watch.stop()
            self.start_watch()
        for row in rows:
            if row.get("status") in ("done", "failed"):
                self.ended(row)
        return bool(rows)

    def housekeeping(self):
        pending = self.pending()
        if not pending:
            return
        present = {row["name"] for row in self.tools.json_lines("exp-status", "--json")}
        for config in pending:
            if config.name not in present:
                self.removed(config)

    def loop(self, runner):
        args = self.args
        last_event = last_check = time.monotonic()
        while True:
            self.pump(0)
            if runner is not None:
                runner.keep_alive()
            trials = len(self.study.trials)
            pending = self.pending()
            if trials >= args.trials and not pending:
                return
            if trials < args.trials:
                in_flight, _ = self.in_flight()
                room = min(args.parallel - in_flight, args.trials - trials)
                if room > 0:
                    self.ask(room)
                    continue
            if self.pump(2.0):
                last_event = last_check = time.monotonic()
                continue
            now = time.monotonic()
            if now - last_check >= HOUSEKEEPING_EVERY:
                last_check = now
                self.housekeeping()
            if now - last_event >= QUIET_NOTE_EVERY:
                last_event = now
                _, counts = self.in_flight()
                note(
                    f"waiting for {len(pending)} config(s) to end ({counts['todo']} todo, "
                    f"{counts['running']} running in the experiment); {self.progress()}"
                )

    def best_params(self):
        value, config = self.best
        return {key: config.params[key] for key in self.space.keys}, value, config.name


# --- main ---------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="optuna_search.py",
        description="Search an experiment's params with Optuna's TPE, through exp-add, exp-run and "
        "exp-status. The experiment is the study's storage: stopped or killed, the search is run "
        "again with the same arguments and goes on.",
        epilog="stdout: one line, the best params as a JSON object (the searched keys, as the "
        "experiment holds them); stderr: progress. Exit 0 on success, 1 if every trial failed, "
        "2 on bad arguments, 3 if the experiment or an exp tool fails, 127 without Optuna or the "
        "exp tools, 128+N on signal N. The script's docstring says more.",
    )
    parser.add_argument("dir", metavar="DIR", help="an experiment made by exp-init")
    parser.add_argument("--trials", type=int, required=True, metavar="N", help="trials in all, those rebuilt included")
    parser.add_argument("--parallel", type=int, default=1, metavar="P", help="trials in flight (and exp-run -j P)")
    parser.add_argument("--objective", required=True, metavar="FIELD", help="the result field to optimise")
    parser.add_argument("--direction", required=True, choices=("minimize", "maximize"))
    parser.add_argument(
        "--dist",
        action="append",
        required=True,
        metavar="KEY=SPEC",
        help="a searched param, as exp-add --dist takes it: uniform(A,B), loguniform(A,B), int(A,B), "
        "logint(A,B), choice(V1,V2,...); normal() is refused. Repeatable",
    )
    parser.add_argument("--seed", type=int, metavar="S", help="seed of the TPE sampler (0 to 2^32-1)")
    parser.add_argument(
        "--digits", type=int, default=4, metavar="D", help="round floats to D significant digits (0: all) [4]"
    )
    parser.add_argument(
        "--no-runner", action="store_true", help="start no exp-run: others serve DIR (a Slurm array)"
    )
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials: N must be at least 1")
    if args.parallel < 1:
        parser.error("--parallel: P must be at least 1")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        parser.error("--seed: S must be 0 to 2^32-1")
    if not 0 <= args.digits <= 17:
        parser.error("--digits: D must be 0 to 17")
    if not args.objective.strip():
        parser.error("--objective: FIELD must not be empty")
    return args


def parse_specs(args, tools):
    """The --dist flags, checked: kinds Optuna lacks refused first, then
    exp-add's own checks (`--dry-run`: the grammar, the keys, the template's
    params), which also show the experiment's defaults. Returns the
    (key, kind, values) of each flag and the defaults."""
    specs = []
    for text in args.dist:
        parts, why = split_spec(text)
        if why:
            raise Fatal(why, 2)
        if parts and parts[1] == "normal":
            raise Fatal(
                f"--dist {text!r}: Optuna has no normal distribution; give the range to search, "
                "e.g. uniform(A,B) or loguniform(A,B)",
                2,
            )
        specs.append(parts if parts and parts[1] in KINDS else None)
    dry = subprocess.run(
        tools.argv("exp-add", "--dry-run", "--sample", "1", *[f"--dist={text}" for text in args.dist]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if dry.returncode != 0:
        sys.stderr.write(dry.stderr)
        if dry.returncode == 2:
            raise Fatal("exp-add refused the --dist flags", 2)
        raise Fatal(f"exp-add {args.dir} --dry-run failed (exit {dry.returncode})", 3)
    checked = []
    for text, parts in zip(args.dist, specs):
        if parts is None:
            raise Fatal(f"--dist {text!r}: not understood here, though exp-add takes it", 2)
        key, kind, spec_args = parts
        try:
            checked.append((key, kind, spec_values(kind, spec_args)))
        except ValueError as why:
            raise Fatal(f"--dist {text!r}: {why}", 2)
    keys = {key for key, _, _ in checked}
    drawn = json.loads(dry.stdout.splitlines()[0])["params"]
    defaults = {key: value for key, value in drawn.items() if key not in keys}
    return checked, defaults


def main(argv):
    args = parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    runner = search = None
    try:
        tools = Tools(args.dir)
        specs, defaults = parse_specs(args, tools)
        try:
            import optuna
        except ImportError:
            raise Fatal(f"Optuna is not installed for {sys.executable} (pip install optuna)", 127)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        dists = {key: optuna_distribution(optuna, kind, values) for key, kind, values in specs}
        space = Space([key for key, _, _ in specs], dists, defaults, args.digits)
        search = Search(args, optuna, space, tools)
        # The watch first: an ending before the experiment is read is then
        # either in what is read, or among the watch's lines (told once).
        search.start_watch()
        if not args.no_runner:
            runner = Runner(tools, args.parallel)
            runner.start()
        search.rebuild()
        search.loop(runner)
        code = 0
    except Stopped as stop:
        progress = f": {search.progress()}" if search else ""
        note(f"stopped by signal {stop.signum}{progress}; run it again with the same arguments to go on")
        code = 128 + stop.signum
    except Fatal as fatal:
        note(str(fatal))
        code = fatal.code
    # Stopping: another signal now goes to the runner, which then kills its
    # commands at once (as a second Ctrl-C does).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward_signal(runner))
    if runner is not None:
        runner.stop()
    if search is not None and search.watch is not None:
        search.watch.stop()
    if code != 0:
        return code
    if search.best is None:
        note(f"every trial failed ({search.told} of {args.trials}): no best params")
        return 1
    params, value, name = search.best_params()
    note(f"done: {search.progress()}, {search.completed} complete; best {name}: {args.objective}={value:g}")
    print(json.dumps(params), flush=True)
    return 0


def on_signal(signum, _frame):
    raise Stopped(signum)


def forward_signal(runner):
    """While stopping: another signal goes to the runner (which then kills
    its commands at once, as a second Ctrl-C does)."""

    def forward(signum, _frame):
        if runner is not None and runner.proc is not None and runner.proc.poll() is None:
            runner.proc.send_signal(signal.SIGTERM)

    return forward


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
