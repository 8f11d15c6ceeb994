//! `exp-status DIR`: an overview for people, or JSON Lines for scripts.

use crate::driver::terminal_width;
use crate::driver::{duration, json_line, stdout, Common};
use clap::builder::TypedValueParser as _;
use clap::Parser;
use exp::model::Counts;
use exp::model::Status;
use exp::runners::{census_recovering, counts_recovering, snapshot_recovering};
use exp::status::{overview, table, Row};
use exp::store::census::Census;
use exp::store::Store;
use exp::time::Timestamp;
use exp::watch::WatchStatus;
use exp::ExitCode;
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;

/// The examples that end `exp-status --help` and fill EXAMPLES in its man page.
pub const EXAMPLES: &[crate::help::Example] = &[
    crate::help::Example {
        about: "The failed configs grouped by error; then retry the largest group only",
        command: "exp-status runs/lr --failures\n\
                  exp-status runs/lr --failures --group 1 --names |\n    \
                  exp-clean runs/lr --names - --reset",
    },
    crate::help::Example {
        about: "The best done config by loss (configs without a result left out)",
        command: "exp-status runs/lr --json --status done --results |\n    \
                  jq -s -c 'map(select(.result.loss != null)) | min_by(.result.loss)'",
    },
    crate::help::Example {
        about: "Each config's ending as it comes, with its loss (until Ctrl-C)",
        command: "exp-status runs/lr --watch --json --results --status done --status failed |\n    \
                  jq -c '{name, status, loss: .result.loss}'",
    },
];

/// Show the state of an experiment.
///
/// Without options: counts per status, with failed configs (and why) and
/// running ones listed (each with its last metrics line, else the last line
/// it printed); with --status, a table of those configs; with --failures,
/// the failed configs grouped by error. `--json`: one line per config with name, status, params,
/// start_time, end_time, interruption_time, duration, attempts, exit_code,
/// signal, error, dir, runner, host (where its latest attempt ran), commit
/// (the workdir's git commit when it started). Claims
/// of runners that are gone are put back to todo first. `--watch`: then one
/// line per change, until stdout closes or a signal comes.
#[derive(Debug, Parser)]
#[command(after_help = crate::help::short("exp-status", EXAMPLES), after_long_help = crate::help::long("exp-status", EXAMPLES))]
#[command(name = "exp-status", version)]
pub struct Args {
    #[command(flatten)]
    pub experiment: Common,
    /// One JSON object per config (with --counts, one object of counts).
    #[arg(long)]
    pub json: bool,
    /// Only the number of configs per status.
    #[arg(long, conflicts_with = "names")]
    pub counts: bool,
    /// Only configs with this status (todo, running, done, failed; with
    /// --watch also removed, and it is the status after each change).
    /// Repeatable.
    #[arg(long, value_name = "STATUS", value_parser = status_parser())]
    pub status: Vec<WatchStatus>,
    /// With --json: add each config's result object and its last metrics
    /// line, "metrics" (each null when it has none).
    #[arg(long, requires = "json")]
    pub results: bool,
    /// Bare names, one per line (e.g. for exp-run --names -).
    #[arg(long, conflicts_with = "json")]
    pub names: bool,
    /// Exit 0 if every config is done, else 1.
    #[arg(long)]
    pub check: bool,
    /// Print config NAME's stdout and stderr logs, each headed.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["json", "counts", "names", "check"])]
    pub log: Option<String>,
    /// With --log: follow a running config's logs until it ends.
    #[arg(long, requires = "log")]
    pub follow: bool,
    /// With --log: the logs of attempt N (1 is the first) instead of the latest.
    #[arg(long, value_name = "N", requires = "log")]
    pub attempt: Option<u32>,
    /// Then print a line per change (added, started, ended, reset, removed).
    ///
    /// First the configs as without --watch, then, within about a second of
    /// each change, one line: with --json, the config's line after it (a
    /// removed one's last, with "status":"removed"); each attempt's ending
    /// exactly once. Ends when stdout closes (exit 0) or on a signal (128+N).
    #[arg(long, conflicts_with_all = ["counts", "names", "check", "log"])]
    pub watch: bool,
    /// The failed configs grouped by error, largest group first.
    ///
    /// Errors are grouped by signature: numbers as N, hex runs of 6 or more
    /// as H, tokens with a / as PATH, quoted texts as "…". Each group: its
    /// count, signature, one error verbatim, its names, and its telling
    /// params (held by all of the group but not of the experiment, or twice
    /// as frequent in it); then the command that retries it. With --json,
    /// one line per group; with --names, the names, a blank line between
    /// groups. Nothing failed: nothing on stdout, exit 0.
    #[arg(long, conflicts_with_all = ["counts", "check", "log", "watch", "status", "results"])]
    pub failures: bool,
    /// With --failures: group N only (1 is the largest); past the last
    /// group, exit 2.
    #[arg(long, value_name = "N", requires = "failures", value_parser = group_number)]
    pub group: Option<usize>,
    /// A heartbeat older than this marks a runner on another host dead.
    #[arg(long, value_name = "DUR", default_value = "2m", value_parser = duration("--stale-after"))]
    pub stale_after: std::time::Duration,
}

pub fn main() -> exp::Result<ExitCode> {
    let args = crate::driver::parse::<Args>();
    let mut store = Store::open(&args.experiment.dir)?;
    if args.watch {
        let options = exp::watch::Options {
            json: args.json,
            results: args.results,
            statuses: args.status,
            stale_after: args.stale_after,
            width: std::io::stdout().is_terminal().then(terminal_width),
        };
        let output = std::io::stdout();
        return exp::watch::watch(&mut store, &options, &mut stdout(), output.as_fd());
    }
    let statuses = config_statuses(&args.status)?;
    if let Some(name) = &args.log {
        exp::logs::print(&mut store, name, args.attempt, args.follow, &mut stdout())?;
        return Ok(ExitCode::Success);
    }
    let selected = |status: Status| statuses.is_empty() || statuses.contains(&status);
    let mut out = stdout();
    if args.counts || (args.check && statuses.is_empty() && !args.json && !args.names) {
        let all = counts_recovering(&mut store, args.stale_after)?;
        let mut counts = Counts::default();
        for status in Status::ALL.into_iter().filter(|&s| selected(s)) {
            *counts.get_mut(status) = all.get(status);
            counts.total += all.get(status);
        }
        if !args.counts {
            return Ok(ExitCode::failed_if(all.done != all.total));
        }
        if args.json {
            json_line(&mut out, &counts)?;
        } else {
            let Counts { todo, running, done, failed, total } = counts;
            writeln!(
                out,
                "todo\t{todo}\nrunning\t{running}\ndone\t{done}\nfailed\t{failed}\ntotal\t{total}"
            )?;
        }
        out.flush()?;
        return Ok(ExitCode::failed_if(args.check && all.done != all.total));
    }
    // Rows and names are printed a config at a time, as they are read.
    if (args.json || args.names) && !args.failures {
        if let Some(snapshot) = snapshot_recovering(&mut store, args.stale_after)? {
            let now = Timestamp::now();
            let mut all_done = true;
            snapshot.each(|name, entry| {
                all_done &= entry.status() == Status::Done;
                if !selected(entry.status()) {
                    return Ok(());
                }
                if args.names {
                    return Ok(writeln!(out, "{name}")?);
                }
                let config = entry.read()?;
                let row = Row::new(&store, &snapshot.experiment().defaults, name, &config, &now);
                json_line(&mut out, &row.with_result(&store, args.results))
            })?;
            out.flush()?;
            return Ok(ExitCode::failed_if(args.check && !all_done));
        }
    }
    let census = census_recovering(&mut store, args.stale_after)?;
    if args.failures {
        return failures(&census, &args, &mut out);
    }
    let now = Timestamp::now();
    if args.json {
        for (name, entry) in census.configs.iter().filter(|(_, e)| selected(e.status())) {
            let config = entry.read()?;
            let row = Row::new(&store, &census.experiment.defaults, name, &config, &now);
            json_line(&mut out, &row.with_result(&store, args.results))?;
        }
    } else if args.names {
        for (name, _) in census.configs.iter().filter(|(_, e)| selected(e.status())) {
            writeln!(out, "{name}")?;
        }
    } else if !statuses.is_empty() {
        let width = std::io::stdout().is_terminal().then(terminal_width);
        out.write_all(table(&census, &statuses, &now, width)?.as_bytes())?;
    } else if !args.check {
        let width = std::io::stdout().is_terminal().then(terminal_width);
        out.write_all(overview(&store, &census, &now, width)?.as_bytes())?;
    }
    out.flush()?;
    let all_done = census.configs.iter().all(|(_, e)| e.status() == Status::Done);
    Ok(ExitCode::failed_if(args.check && !all_done))
}

/// `--failures`: the groups (or group N) as a table, JSON lines or names.
fn failures(census: &Census, args: &Args, out: &mut impl Write) -> exp::Result<ExitCode> {
    let mut groups = exp::failures::groups(census)?;
    let totals = exp::failures::Totals {
        failed: groups.iter().map(|g| g.names.len()).sum(),
        all: census.configs.len(),
        groups: groups.len(),
    };
    let first = match args.group {
        Some(n) => {
            if n > groups.len() {
                let there = match groups.len() {
                    0 => "no config has failed".to_string(),
                    1 => "there is 1 group of failures".to_string(),
                    count => format!("there are {count} groups of failures (1 to {count})"),
                };
                return Err(exp::Error::usage(format!("--group {n}: {there}")));
            }
            groups = vec![groups.swap_remove(n - 1)];
            n
        }
        None => 1,
    };
    if groups.is_empty() {
        if !args.json && !args.names {
            exp::report::note("no config has failed");
        }
        return Ok(ExitCode::Success);
    }
    if args.json {
        for (i, group) in groups.iter().enumerate() {
            json_line(out, &group.line(first + i))?;
        }
    } else if args.names {
        out.write_all(exp::failures::names(&groups).as_bytes())?;
    } else {
        let width = std::io::stdout().is_terminal().then(terminal_width);
        let dir = args.experiment.dir.display().to_string();
        out.write_all(exp::failures::table(&groups, first, totals, &dir, width).as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::Success)
}

/// `--group N`: a group number, 1 or more.
fn group_number(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("a group number, 1 for the largest group".to_string()),
    }
}

/// A status, one of the possible values the completions offer.
fn status_parser() -> impl clap::builder::TypedValueParser<Value = WatchStatus> {
    clap::builder::PossibleValuesParser::new(WatchStatus::ALL.map(WatchStatus::as_str))
        .map(|status| status.parse::<WatchStatus>().expect("one of the possible values"))
}

/// `--status` without `--watch`: config statuses only.
fn config_statuses(statuses: &[WatchStatus]) -> exp::Result<Vec<Status>> {
    statuses
        .iter()
        .map(|status| match status {
            WatchStatus::Is(status) => Ok(*status),
            WatchStatus::Removed => Err(exp::Error::usage(
                "--status removed needs --watch: a removed config is no longer listed, only its removal seen",
            )),
        })
        .collect()
}
