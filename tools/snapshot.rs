//! `exp-snapshot DIR`: dump what the running configs are doing.

use crate::driver::{duration, json_line, stdout, Common};
use clap::Parser;
use exp::snapshot::{parse_signal, take, Options, Signal};
use exp::store::Store;
use exp::ExitCode;
use std::io::Write;
use std::time::Duration;

/// The examples that end `exp-snapshot --help` and fill EXAMPLES in its man page.
pub const EXAMPLES: &[crate::help::Example] = &[
    crate::help::Example {
        about: "What is running, for how long, and where",
        command: r#"cat "$(exp-snapshot runs/lr)/index.md""#,
    },
    crate::help::Example {
        about: "Signal every command; list those that did not write $EXP_STATUS_FILE",
        command: "exp-snapshot runs/lr --signal USR1 --wait 10s --json |\n    \
                  jq -r 'select(.status_updated | not) | .name'",
    },
];

/// Write a snapshot of the running configs to DIR/snapshots/STAMP/.
///
/// index.md lists each running config (how long it has run, its worker,
/// host and runner); NAME.status.txt holds what the command wrote to
/// $EXP_STATUS_FILE and the tails of its stdout and stderr; NAME.result.json
/// its result, if any. Nothing is signalled unless --signal is given, and
/// then only each command's own process on this host that traps it (one
/// that does not, or not yet, would die of SIGUSR1: it is left alone and
/// the index says so). The state is never changed. Prints the snapshot
/// folder as the last line of stdout.
#[derive(Debug, Parser)]
#[command(after_help = crate::help::short("exp-snapshot", EXAMPLES), after_long_help = crate::help::long("exp-snapshot", EXAMPLES))]
#[command(name = "exp-snapshot", version)]
pub struct Args {
    #[command(flatten)]
    pub experiment: Common,
    /// Send SIG (e.g. USR1) to each running command first.
    #[arg(long, value_name = "SIG", value_parser = signal)]
    pub signal: Option<Signal>,
    /// With --signal, wait up to DUR for the commands' status files.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = duration("--wait"))]
    pub wait: Duration,
    /// One JSON line per running config instead of the folder's path.
    #[arg(long)]
    pub json: bool,
}

fn signal(text: &str) -> Result<Signal, String> {
    parse_signal(text).map_err(|err| err.message)
}

pub fn main() -> exp::Result<ExitCode> {
    let args = crate::driver::parse::<Args>();
    let mut store = Store::open(&args.experiment.dir)?;
    let snapshot = take(&mut store, &Options { signal: args.signal, wait: args.wait })?;
    let mut out = stdout();
    if args.json {
        for entry in &snapshot.entries {
            json_line(&mut out, entry)?;
        }
    } else {
        writeln!(out, "{}", snapshot.dir.display())?;
    }
    out.flush()?;
    Ok(ExitCode::Success)
}
