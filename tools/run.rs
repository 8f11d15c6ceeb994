//! `exp-run DIR`: run the todo configs in a process pool.

use crate::driver::{duration, read_list, Common};
use clap::{Parser, ValueEnum};
use exp::run::devices::{lock_folder, DeviceRequest};
use exp::run::feedback::Progress;
use exp::run::replay::Replay;
use exp::run::spawn::CacheMode;
use exp::run::{run, Options};
use exp::select::{read_names, Shard};
use exp::ExitCode;
use std::path::PathBuf;
use std::time::Duration;

/// The examples that end `exp-run --help` and fill EXAMPLES in its man page.
pub const EXAMPLES: &[crate::help::Example] = &[
    crate::help::Example {
        about: "In a Slurm array: the tasks share the work; none starts a config after 3h50m",
        command: r#"exp-run "$DIR" -j "$SLURM_CPUS_PER_TASK" --stop-after 3h50m"#,
    },
    crate::help::Example {
        about: "A crontab line: run what is todo, or leave at once if a runner is at work",
        command: "*/5 * * * * exp-run /data/sweep --exclusive --progress never -q",
    },
    crate::help::Example {
        about: "Share a 4-GPU box with other runners: 2 GPUs per config, never one twice",
        command: "exp-run runs/lr --devices 0-3 --devices-per-config 2",
    },
];

/// Run every todo config of an experiment through a pool of workers.
///
/// Any number of runners may share one experiment (cron, Slurm arrays); each
/// config is claimed under a lock and runs at most once at a time. The first
/// SIGINT, SIGTERM or SIGHUP stops launching, asks running commands to stop
/// (SIGTERM, then SIGKILL after --kill-after), puts them back to todo and
/// exits 128+N; a second one kills at once. Exit 0 when no config this run
/// ran failed, 1 when one did (exp-status --check asks whether all are done).
///
/// Each attempt writes DIR/configs/NAME/provenance.json before its command
/// starts: exp version, host, user, runner, start, workdir, argv, devices,
/// Slurm ids, the workdir's git commit, branch, dirty flag and untracked
/// count, and the --record-env variables; uncommitted changes (git diff
/// HEAD) are stored once as DIR/patches/SHA.patch.
#[derive(Debug, Parser)]
#[command(after_help = crate::help::short("exp-run", EXAMPLES), after_long_help = crate::help::long("exp-run", EXAMPLES))]
#[command(name = "exp-run", version)]
pub struct Args {
    #[command(flatten)]
    pub experiment: Common,
    /// Number of workers; 0 means one per core. Default 1; with --devices,
    /// as many as the devices allow (len(LIST)/K), and no more.
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<u16>,
    /// First mark every failed config todo again.
    #[arg(long)]
    pub retry_failed: bool,
    /// Retry a failed config up to N more times in this run.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// Kill a config's whole process group after DUR; it is recorded failed.
    /// 0 means no limit, as for timeout(1).
    #[arg(long, value_name = "DUR", value_parser = duration("--timeout"))]
    pub timeout: Option<Duration>,
    /// After SIGTERM, wait DUR before SIGKILL.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = duration("--kill-after"))]
    pub kill_after: Duration,
    /// Only these configs: bare names or JSON lines with "name"; `-` is stdin.
    /// Listed failed configs are retried; done ones are skipped.
    #[arg(long, value_name = "FILE")]
    pub names: Option<PathBuf>,
    /// Only configs whose name hashes to I modulo N (64-bit FNV-1a), 0 <= I < N.
    #[arg(long, value_name = "I/N", value_parser = shard)]
    pub shard: Option<Shard>,
    /// Start at most N configs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Start no new config after DUR (e.g. 3h50m, for Slurm time limits).
    #[arg(long, value_name = "DUR", value_parser = duration("--stop-after"))]
    pub stop_after: Option<Duration>,
    /// An environment variable for every command, KEY=VALUE (a template,
    /// e.g. OMP_NUM_THREADS={threads}; for GPUs, see --devices). Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Print what would run, and run nothing: each config's name, argv and
    /// the variables exp would set for it (never the inherited ones);
    /// with --json, {"name","argv","env"} per config.
    #[arg(long)]
    pub dry_run: bool,
    /// JSON Lines events on stdout: start and end of every config.
    #[arg(long)]
    pub json: bool,
    /// Progress bars on a terminal (auto), always, or never.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Off a terminal, print a line every DUR naming the configs still
    /// running, so a log is never silent for long; 0 or off: never.
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = status_every)]
    pub status_every: Duration,
    /// No closing line (for cron).
    #[arg(short, long)]
    pub quiet: bool,
    /// Exit 4 at once if another runner is active.
    #[arg(long)]
    pub exclusive: bool,
    /// Set EXP_CACHE_MODE=off instead of record.
    #[arg(long)]
    pub no_cache: bool,
    /// Launch nothing more once N configs failed in this run (running ones
    /// finish); exit 1. A brake for a broken command on a cluster.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_failures: Option<u64>,
    /// Run CMD (sh -c) once before the pool; the KEY=VALUE lines it prints
    /// until it exits are added to every config's environment. If it fails,
    /// nothing runs (exit 5). What it leaves running (a server started with
    /// &) serves the run and is stopped when the run ends; what that prints
    /// goes to DIR/.exp/setup-RUNNER.log.
    #[arg(long, value_name = "CMD")]
    pub setup: Option<String>,
    /// On a terminal, Enter lists the running configs and takes a snapshot.
    #[arg(long)]
    pub interactive: bool,
    /// Run config NAME again in the foreground (inherited stdio,
    /// EXP_CACHE_MODE=replay), changing no state; exit with its exit code.
    /// It runs the argv that ran (its command.json), in today's workdir and
    /// environment. Repeatable.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["replay_all", "dry_run", "interactive"])]
    pub replay: Vec<String>,
    /// Replay every config that ran (done or failed) in order, going on past
    /// failures; exit 1 if any replay failed.
    #[arg(long, conflicts_with_all = ["dry_run", "interactive"])]
    pub replay_all: bool,
    /// Record a config that exits 0 without a result as failed ("no
    /// result"), as exp-init --require-result does for every run.
    #[arg(long)]
    pub require_result: bool,
    /// A live experiment: when no todo config is left, keep waiting for
    /// configs that exp-add adds (from any shell or host) and run them as
    /// they come, until a signal (or --idle-exit). --limit, --max-failures,
    /// --stop-after and --shard keep their meaning.
    #[arg(long, conflicts_with_all = ["names", "exclusive", "dry_run", "replay", "replay_all"])]
    pub follow: bool,
    /// With --follow: end (exit 0, or 1 if a config it ran failed) after DUR
    /// with nothing running and nothing to run.
    #[arg(long, value_name = "DUR", requires = "follow", value_parser = duration("--idle-exit"))]
    pub idle_exit: Option<Duration>,
    /// A heartbeat older than this marks a runner on another host dead.
    #[arg(long, value_name = "DUR", default_value = "2m", value_parser = duration("--stale-after"))]
    pub stale_after: Duration,
    /// Device tokens to share out, e.g. GPUs: 0,1,2,3 or 0-3, or names
    /// (GPU UUIDs; in a Slurm job, "$CUDA_VISIBLE_DEVICES"). Each running
    /// config holds --devices-per-config of them, given to it as
    /// CUDA_VISIBLE_DEVICES, EXP_DEVICES and {devices}, until every process
    /// of it has ended. Runners sharing the lock folder $EXP_DEVICE_LOCKS
    /// (default /tmp/exp-devices) never hold a token at once.
    #[arg(long, value_name = "LIST", conflicts_with_all = ["replay", "replay_all"])]
    pub devices: Option<String>,
    /// With --devices: how many tokens each config holds.
    #[arg(long, value_name = "K", requires = "devices")]
    pub devices_per_config: Option<usize>,
    /// Start a config only while SIZE of memory (512M, 4G) is available:
    /// MemAvailable, or the memory cgroup's limit less its usage without
    /// page cache, the lower. Starts are a second apart while less than
    /// twice SIZE is available.
    #[arg(long, value_name = "SIZE", value_parser = exp::run::memory::parse_size, conflicts_with_all = ["replay", "replay_all"])]
    pub memfree: Option<u64>,
    /// Record the variables of each command's environment whose names
    /// match GLOB (*, ? and [A-Z]) in its provenance.json. Repeatable; none by
    /// default. '*' records them all, secrets too: it warns.
    #[arg(long, value_name = "GLOB")]
    pub record_env: Vec<String>,
    /// Refuse to run (exit 2, nothing changed) unless the workdir is in a
    /// git work tree whose tracked files are as HEAD has them; the changed
    /// files are named.
    #[arg(long)]
    pub require_clean: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Always,
    Never,
}

/// A duration, or `off` (as 0).
fn status_every(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "off" => Ok(Duration::ZERO),
        _ => duration("--status-every")(text),
    }
}

fn shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text).map_err(|err| err.message)
}

pub fn main() -> exp::Result<ExitCode> {
    let mut args = std::env::args();
    if args.nth(1).is_some_and(|arg| arg == exp::run::watchdog::WATCHDOG_ARG) {
        return Ok(exp::run::watchdog::serve(&args.next().unwrap_or_default()));
    }
    let args = crate::driver::parse::<Args>();
    let names = match &args.names {
        Some(path) => Some(read_list(path, "--names", |input, source| read_names(input, source))?),
        None => None,
    };
    let cores = || std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let devices = match &args.devices {
        Some(list) => Some(DeviceRequest::new(list, args.devices_per_config.unwrap_or(1), lock_folder())?),
        None => None,
    };
    let jobs = match (&devices, args.jobs) {
        (Some(devices), asked) => devices.jobs(asked.map(usize::from), cores())?,
        (None, Some(0)) => cores(),
        (None, asked) => usize::from(asked.unwrap_or(1)),
    };
    let options = Options {
        jobs,
        retry_failed: args.retry_failed,
        retries: args.retries,
        timeout: args.timeout.filter(|limit| !limit.is_zero()),
        kill_after: args.kill_after,
        names,
        shard: args.shard,
        limit: args.limit,
        stop_after: args.stop_after,
        env: args.env,
        dry_run: args.dry_run,
        json: args.json,
        progress: match args.progress {
            ProgressArg::Auto => Progress::Auto,
            ProgressArg::Always => Progress::Always,
            ProgressArg::Never => Progress::Never,
        },
        quiet: args.quiet,
        exclusive: args.exclusive,
        follow: args.follow.then_some(exp::run::Follow { idle_exit: args.idle_exit }),
        stale_after: args.stale_after,
        cache: if args.no_cache { CacheMode::Off } else { CacheMode::Record },
        max_failures: args.max_failures.map(|n| n as usize),
        setup: args.setup,
        interactive: args.interactive,
        replay: match (args.replay_all, args.replay.is_empty()) {
            (true, _) => Some(Replay::All),
            (false, false) => Some(Replay::Names(args.replay)),
            (false, true) => None,
        },
        status_every: Some(args.status_every).filter(|every| !every.is_zero()),
        require_result: args.require_result,
        devices,
        memfree: args.memfree,
        record_env: args.record_env,
        require_clean: args.require_clean,
    };
    run(&args.experiment.dir, &options)
}
