//! `exp-summary DIR`: one CSV row (or JSON line) per config, params and results.

use crate::driver::{stdout, Common};
use clap::Parser;
use exp::metrics::{write_curves_csv, write_curves_json};
use exp::report::{first_few, note};
use exp::results::{not_done, save_to, write_csv, write_json, Options, SUMMARY_FILE};
use exp::store::Store;
use exp::ticker::Ticker;
use exp::ExitCode;
use std::io::IsTerminal;
use std::path::PathBuf;

/// The examples that end `exp-summary --help` and fill EXAMPLES in its man page.
pub const EXAMPLES: &[crate::help::Example] = &[
    crate::help::Example {
        about: "Write results_summary.csv into the experiment",
        command: "exp-summary runs/lr --save",
    },
    crate::help::Example {
        about: "A partial summary while configs still run, with status and duration columns",
        command: "exp-summary runs/lr --ignore-missing --timing -o partial.csv",
    },
    crate::help::Example {
        about: "A table of name and loss of the done configs, best first",
        command: "exp-summary runs/lr --json --ignore-missing |\n    \
                  jq -r 'select(.status == \"done\") | [.name, .result.loss] | @tsv' |\n    \
                  sort -k2 -g",
    },
];

/// Summarise an experiment: one row per config, its params and its result.
///
/// Columns: name, every param, every result field (nested objects
/// flattened with dots, arrays as JSON text; a result field that clashes
/// with a param is prefixed `result.`), then status (--ignore-missing) and
/// duration in seconds (--timing), and git.commit, git.dirty, host
/// (--provenance). Without --ignore-missing, a config that
/// is not done is an error: exit 1, naming the configs, nothing written.
/// With --metrics, the learning curves instead (any status).
#[derive(Debug, Parser)]
#[command(after_help = crate::help::short("exp-summary", EXAMPLES), after_long_help = crate::help::long("exp-summary", EXAMPLES))]
#[command(name = "exp-summary", version)]
pub struct Args {
    #[command(flatten)]
    pub experiment: Common,
    /// Summarise configs that are not done too, with a status column.
    #[arg(long)]
    pub ignore_missing: bool,
    /// Add a duration column, in seconds.
    #[arg(long)]
    pub timing: bool,
    /// JSON Lines instead of CSV: {"name","params","result"} (unflattened).
    #[arg(long, conflicts_with = "save")]
    pub json: bool,
    /// Write results_summary.csv in the experiment (atomically) instead of stdout.
    #[arg(long, conflicts_with = "output")]
    pub save: bool,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write text cells as they are. By default a text cell that a
    /// spreadsheet would run as a formula (starting with =, +, -, @, TAB or
    /// CR; numbers never) gets a leading ', in CSV and results_summary.csv.
    #[arg(long)]
    pub raw: bool,
    /// The curves in long form: one row per line of each config's latest
    /// metrics.jsonl ($EXP_METRICS): name, the params, attempt, then the
    /// metrics fields (--json: {"name","params","attempt","metrics"}).
    /// Configs of any status; a partial last line is skipped.
    #[arg(long, conflicts_with_all = ["save", "timing", "ignore_missing"])]
    pub metrics: bool,
    /// Add the columns git.commit, git.dirty and host, from each config's
    /// latest provenance.json (empty when it has none); --json: its whole
    /// provenance.json as "provenance".
    #[arg(long, conflicts_with_all = ["metrics", "save"])]
    pub provenance: bool,
    /// Write one self-contained HTML page to FILE (atomically): the counts,
    /// the results table (sortable), each numeric result plotted against
    /// each param that varies, and the failures. Configs that are not done
    /// are shown, never refused.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["json", "save", "output", "timing", "raw", "metrics", "provenance"])]
    pub html: Option<PathBuf>,
}

pub fn main() -> exp::Result<ExitCode> {
    let args = crate::driver::parse::<Args>();
    for (flag, path) in [("-o", &args.output), ("--html", &args.html)] {
        if let Some(folder) = path.as_deref().and_then(|path| path.parent()) {
            if !folder.as_os_str().is_empty() && !folder.is_dir() {
                return Err(exp::Error::usage(format!(
                    "{flag} {}: no folder {} to write it in",
                    path.as_deref().unwrap_or(folder).display(),
                    folder.display()
                )));
            }
        }
    }
    let mut store = Store::open(&args.experiment.dir)?;
    let (experiment, _) = store.read()?;
    if let Some(path) = &args.html {
        let label = args.experiment.dir.display().to_string();
        let sources = [exp::html::Source { label, store: &store, experiment: &experiment }];
        let mut ticker = Ticker::new("configs read", Some(experiment.configs.len() as u64));
        let page = exp::html::render(&sources, &mut || ticker.tick())?;
        drop(ticker);
        exp::store::atomic::write_atomic(path, page.as_bytes())?;
        note(format!("wrote {}", path.display()));
        return Ok(ExitCode::Success);
    }
    let options = Options {
        ignore_missing: args.ignore_missing,
        timing: args.timing,
        raw: args.raw,
        provenance: args.provenance,
    };
    let missing = not_done(&experiment);
    if !options.ignore_missing && !args.metrics && !missing.is_empty() {
        let listed = first_few(missing.iter().map(|(name, status)| format!("{name} ({status})")), 10);
        note(format!(
            "{} config(s) not done: {listed}; --ignore-missing summarises them anyway",
            missing.len()
        ));
        return Ok(ExitCode::Failed);
    }
    let target = match (&args.output, args.save) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(store.dir().join(SUMMARY_FILE)),
        (None, false) => None,
    };
    // Rows streamed to a terminal show the progress themselves; a bar
    // would only tear them.
    let mut ticker = match target.is_none() && std::io::stdout().is_terminal() {
        true => Ticker::off(),
        false => Ticker::new("configs read", Some(experiment.configs.len() as u64)),
    };
    let tick = &mut || ticker.tick();
    match &target {
        _ if args.metrics => {
            let json = args.json;
            let write = |out: &mut dyn std::io::Write, tick: &mut dyn FnMut()| match json {
                true => write_curves_json(&store, &experiment, out, tick),
                false => write_curves_csv(&store, &experiment, args.raw, out, tick),
            };
            match &target {
                Some(path) => {
                    let mut bytes = Vec::new();
                    write(&mut bytes, tick)?;
                    exp::store::atomic::write_atomic(path, &bytes)?;
                }
                None => write(&mut stdout(), tick)?,
            }
        }
        Some(path) if args.json => {
            let mut bytes = Vec::new();
            write_json(&store, &experiment, options, &mut bytes, tick)?;
            exp::store::atomic::write_atomic(path, &bytes)?;
        }
        Some(path) => save_to(path, &store, &experiment, options, tick)?,
        None if args.json => write_json(&store, &experiment, options, stdout(), tick)?,
        None => write_csv(&store, &experiment, options, stdout(), tick)?,
    }
    drop(ticker);
    if let Some(path) = target {
        note(format!("wrote {}", path.display()));
    }
    Ok(ExitCode::Success)
}
