//! `exp-clean DIR`: remove configs no longer wanted, reset configs, housekeeping.

use crate::driver::{duration, json_line, read_list, stdout, Common};
use clap::Parser;
use exp::clean::{clean, Action, Request};
use exp::report::{first_few, note};
use exp::rows::read_json_lines;
use exp::select::read_names;
use exp::store::Store;
use exp::ExitCode;
use std::io::Write;
use std::path::PathBuf;

/// The examples that end `exp-clean --help` and fill EXAMPLES in its man page.
pub const EXAMPLES: &[crate::help::Example] = &[
    crate::help::Example {
        about: "Put every failed config back to todo, then run them",
        command: "exp-clean runs/lr --reset-failed && exp-run runs/lr",
    },
    crate::help::Example {
        about: "Reset only the failed configs whose error mentions CUDA",
        command: r#"exp-status runs/lr --json --status failed |
    jq -c 'select(.error | test("CUDA"))' |
    exp-clean runs/lr --names - --reset"#,
    },
    crate::help::Example {
        about: "See what keeping only the configs with lr < 0.1 would remove",
        command: "exp-status runs/lr --json | jq -c 'select(.params.lr < 0.1) | .params' |\n    \
                  exp-clean runs/lr --keep - --dry-run",
    },
];

/// Remove configs no longer wanted, or put configs back to todo.
///
/// Never touches a running config (it says which it skipped); safe while
/// runners work. Folders of removed configs stay on disk unless --purge.
/// Prints one JSON line per config changed: {"name","action","status",
/// "params","purged"} (action: remove or reset; status: before). Without
/// any option: housekeeping (recover dead runners' claims, fold the
/// journal, forget dead runners).
#[derive(Debug, Parser)]
#[command(after_help = crate::help::short("exp-clean", EXAMPLES), after_long_help = crate::help::long("exp-clean", EXAMPLES))]
#[command(name = "exp-clean", version)]
pub struct Args {
    #[command(flatten)]
    pub experiment: Common,
    /// Keep only these configs: JSON Lines of params (`-` is stdin); remove the rest.
    #[arg(long, value_name = "FILE", conflicts_with = "names")]
    pub keep: Option<PathBuf>,
    /// Remove these configs: bare names or JSON lines with "name" (`-` is stdin).
    #[arg(long, value_name = "FILE")]
    pub names: Option<PathBuf>,
    /// With --names: put the listed configs back to todo instead of removing them.
    #[arg(long, requires = "names")]
    pub reset: bool,
    /// Put every failed config back to todo.
    #[arg(long)]
    pub reset_failed: bool,
    /// Say what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete the folders of removed configs.
    #[arg(long)]
    pub purge: bool,
    /// A heartbeat older than this marks a runner on another host dead.
    #[arg(long, value_name = "DUR", default_value = "2m", value_parser = duration("--stale-after"))]
    pub stale_after: std::time::Duration,
}

pub fn main() -> exp::Result<ExitCode> {
    let args = crate::driver::parse::<Args>();
    let mut store = Store::open(&args.experiment.dir)?;
    let keep = match &args.keep {
        Some(path) => Some(read_list(path, "--keep", |input, source| read_json_lines(input, source))?),
        None => None,
    };
    let names = match &args.names {
        Some(path) => Some(read_list(path, "--names", |input, source| read_names(input, source))?),
        None => None,
    };
    let request = Request {
        keep,
        names,
        reset: args.reset,
        reset_failed: args.reset_failed,
        dry_run: args.dry_run,
        purge: args.purge,
        stale_after: args.stale_after,
    };
    let outcome = clean(&mut store, &request)?;
    let mut out = stdout();
    for change in &outcome.changes {
        json_line(&mut out, change)?;
    }
    out.flush()?;
    if !outcome.skipped_running.is_empty() {
        note(format!(
            "skipped {} running config(s): {}",
            outcome.skipped_running.len(),
            first_few(outcome.skipped_running.iter().cloned(), 10)
        ));
    }
    if !outcome.already_todo.is_empty() {
        note(format!(
            "{} listed config(s) already todo, left as they are: {}",
            outcome.already_todo.len(),
            first_few(outcome.already_todo.iter().cloned(), 10)
        ));
    }
    if outcome.recovered > 0 {
        note(format!("{} config(s) claimed by runners that are gone are back to todo", outcome.recovered));
    }
    let count = |action| outcome.changes.iter().filter(|c| c.action == action).count();
    let purged = outcome.changes.iter().filter(|c| c.purged == Some(true)).count();
    let (removed, reset) = (count(Action::Remove), count(Action::Reset));
    if request.is_housekeeping() {
        note("housekeeping done: journal folded, dead runners forgotten");
    } else if args.dry_run {
        note(format!("dry run: would remove {removed} and reset {reset} config(s); nothing changed"));
    } else {
        let purged = if args.purge { format!(" ({purged} folder(s) deleted)") } else { String::new() };
        note(format!("removed {removed}{purged} and reset {reset} config(s)"));
    }
    Ok(ExitCode::Success)
}
