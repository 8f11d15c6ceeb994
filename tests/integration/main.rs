//! Integration tests: the real binaries on real processes, one temp dir each.
//!
//! Every test file imports `harness` (`use crate::harness::*;`) and never
//! another test file. One line per module says what belongs there.

/// The one harness: the experiment dir, output assertions, background runners, state readers, pids, skips.
mod harness;

/// `exp-add`: identity, grids, input sources, bad input, hostile names.
mod add;
/// `exp-clean`: `--keep`, `--names`, `--purge`, resets, dry runs, running configs left alone.
mod clean;
/// Experiments written by earlier releases load, recover and run on.
mod compat;
/// Several runners on one experiment, `--exclusive`, other hosts' claims, tools while runners work.
mod concurrency;
/// Regression tests of the attack report's 18 defects, one or more per defect, each citing it.
mod defects;
/// `exp-run --devices` and `--memfree`: tokens shared by runners and users, given back however a config ends; memory.
mod devices;
/// The examples a user copies (`examples/`), run for real.
mod examples;
/// `exp-status --failures`: failures grouped by error signature, telling params, `--group N`, the retry pipe.
mod failures;
/// Trust, round 3, regressions: what reaches the files (symlinked folders, purges, spreadsheet cells).
mod files3;
/// A researcher's first hour: typos, fixes, grids, paths, failures and stops.
mod firsthour;
/// `exp-run --follow`: configs added while it runs, `--idle-exit`, bounds that keep their meaning.
mod follow;
/// Hostile surroundings: planted FIFOs and symlinks, blocked signals, bad UTF-8, full or read-only disks.
mod hostile;
/// Trust, round 3, regressions: hosts, PID namespaces, clocks, Unix users, damaged journal bytes.
mod hosts;
/// `exp-init`: creating an experiment, idempotence, refused definitions, checks of the directory.
mod init;
/// `install.sh`: tools, man pages and completions under PREFIX.
mod install;
/// `exp-run` under signals and crashes: interruption, stubborn commands, SIGKILL, torn journals.
mod interrupt;
/// `$EXP_METRICS`: files per attempt, the last line in exp-status, `exp-summary --metrics`, rate and ETA lines.
mod metrics;
/// `examples/optuna_search.py`: a real TPE study through the tools, killed and resumed, failures, repeats.
mod optuna;
/// `provenance.json` (git, Slurm, `--record-env`), `--require-clean`, `commit` in exp-status, `exp-summary --provenance`.
mod provenance;
/// `exp-run`'s cache mode, `--replay`, `--replay-all` and `--setup`.
mod replay;
/// `exp-summary --html`: the page in headless Chromium, and as text.
mod report;
/// Bad input and hostile conditions found in review: refused cleanly or survived.
mod robustness;
/// `exp-run`'s pool: statuses, exit codes, logs, results, retries, selection, timeouts, environment.
mod run;
/// Trust, round 3, regressions: the runner (setup services, escapees, runner-side errors, results, replay).
mod runner3;
/// `exp-add --sample`: reproducible draws, growth without duplicates, Sobol points, bad specs, `--dry-run`.
mod sample;
/// A big experiment behaves like a small one.
mod scale;
/// `exp-run` under a real Slurm: array tasks sharing or sharding one experiment, `scancel`.
mod slurm;
/// `exp-run` on a Slurm cluster of several nodes: a node killed, a node drained.
mod slurm_nodes;
/// `exp-snapshot` of real running commands.
mod snapshot;
/// A seeded fault-injection soak: runners killed and restarted while configs come and go.
mod soak;
/// `exp-status`: JSON lines, counts, names, `--check`, the Delphyne fixture, jq.
mod status;
/// `exp-status --json` and `--names` printed as read: a big experiment's order with the journal, damage refused before a line.
mod streamed;
/// `exp-summary` and `results_summary.csv` from the user's side.
mod summary;
/// `exp-summary --over` (stats over seeds, checked against values computed here), several DIRs, reserved columns.
mod summary_over;
/// Trust, round 3, regressions: templates, names and grids.
mod templates3;
/// What people see: plain lines, colour, and bars under a real pseudo-terminal.
mod terminal;
/// `exp-status --watch`: a line per change, every ending exactly once, its ends (reader gone, signals).
mod watch;
