//! `exp-summary DIR...`: one CSV row (or JSON line) per config, params and
//! results; or, with `--over`, one per group of configs (`exp::aggregate`).

use crate::driver::{stdout, CommonMany};
use clap::builder::PossibleValuesParser;
use clap::Parser;
use exp::aggregate::{self, Stat};
use exp::metrics::{write_curves_csv, write_curves_json};
use exp::report::{first_few, note};
use exp::results::{not_done, write_json_many, NotDone, Options, Source, Table, SUMMARY_FILE};
use exp::store::Store;
use exp::ticker::Ticker;
use exp::ExitCode;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The examples that end `exp-summary --help` and fill EXAMPLES in its man page.
pub const EXAMPLES: &[crate::help::Example] = &[
    crate::help::Example {
        about: "Mean, spread and count of each result over seeds, in two experiments",
        command: "exp-summary runs/lr runs/wide --over seed --stats mean,std,n",
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

/// Summarise experiments: one row per config, its params and its result.
///
/// Columns: name, every param, every result field (nested objects
/// flattened with dots, arrays as JSON text; a result field that clashes
/// with a param is prefixed result.), then status (--ignore-missing),
/// duration in seconds (--timing), and git.commit, git.dirty, host from
/// each config's latest provenance.json (--provenance). A param named as a column the summary
/// may have (name, status, duration, experiment, n, attempt, host,
/// git.commit, git.dirty) is prefixed param. Without --ignore-missing, a
/// config that is not done is an error: exit 1, naming the configs, nothing
/// written.
///
/// Of several experiments, a first column experiment (each DIR as given);
/// params one lacks are empty cells; --json lines start with "experiment".
///
/// With --over K: the done configs (others are left out, never an error)
/// grouped by every param but K, one row per group: its params, n (done
/// configs in it), then FIELD.mean and FIELD.std (sample; empty under 2
/// values) of each numeric result field, or the --stats asked for, each
/// over the configs that have the field as a number, in f64, written in
/// shortest round-trip form (0.1, 2, 1e-7). --json: one line per group,
/// with "experiment" (of several), "params", "n" and "stats", e.g.
/// "stats": {"loss": {"mean": 0.5, "std": 0.1}}.
///
/// With --metrics, the learning curves instead (any status); with --html
/// FILE, one self-contained page.
#[derive(Debug, Parser)]
#[command(after_help = crate::help::short("exp-summary", EXAMPLES), after_long_help = crate::help::long("exp-summary", EXAMPLES))]
#[command(name = "exp-summary", version)]
pub struct Args {
    #[command(flatten)]
    pub experiments: CommonMany,
    /// Summarise configs that are not done too, with a status column.
    #[arg(long)]
    pub ignore_missing: bool,
    /// Add a duration column, in seconds.
    #[arg(long)]
    pub timing: bool,
    /// JSON Lines instead of CSV: {"name","params","result"} (unflattened).
    #[arg(long, conflicts_with = "save")]
    pub json: bool,
    /// Write results_summary.csv in the experiment (atomically) instead of
    /// stdout. One DIR only.
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
    /// Group the done configs by every param but KEY (comma-separated or
    /// repeated; model.seed names a nested one): one row per group, with n
    /// and the stats of each numeric result field. A KEY no config has is
    /// exit 2.
    #[arg(long, value_name = "KEY", value_hint = clap::ValueHint::Other, value_delimiter = ',', conflicts_with_all = ["save", "timing"])]
    pub over: Vec<String>,
    /// With --over: the stats of each field, as columns FIELD.STAT in this
    /// order [default: mean,std]. n is the count of configs that have the
    /// field as a number; median of an even count is the mean of the two
    /// middle values; sem is std/sqrt(n).
    #[arg(long, value_name = "STAT", value_delimiter = ',', requires = "over", value_parser = PossibleValuesParser::new(Stat::NAMES))]
    pub stats: Vec<String>,
    /// The curves in long form: one row per line of each config's latest
    /// metrics.jsonl ($EXP_METRICS): name, the params, attempt, then the
    /// metrics fields (--json: {"name","params","attempt","metrics"}).
    /// Configs of any status; a partial last line is skipped.
    #[arg(long, conflicts_with_all = ["save", "timing", "ignore_missing", "over"])]
    pub metrics: bool,
    /// Add the columns git.commit, git.dirty and host, from each config's
    /// latest provenance.json (empty when it has none); --json: its whole
    /// provenance.json as "provenance".
    #[arg(long, conflicts_with_all = ["metrics", "save", "over"])]
    pub provenance: bool,
    /// Write one self-contained HTML page to FILE (atomically; - for stdout): the counts,
    /// the results table (sortable), each numeric result plotted against
    /// each param that varies (with --over, the groups' mean and spread),
    /// the learning curves and the failures. Configs that are not done are
    /// shown, never refused.
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
    let dirs = &args.experiments.dirs;
    if args.save && dirs.len() > 1 {
        return Err(exp::Error::usage(format!(
            "--save writes one experiment's {SUMMARY_FILE}, and {} are given; -o FILE writes a summary of several",
            dirs.len()
        )));
    }
    let stats = match (args.over.is_empty(), args.stats.is_empty()) {
        (true, _) => None,
        (false, true) => Some(Stat::DEFAULT.to_vec()),
        (false, false) => Some(Stat::parse_list(&args.stats)?),
    };
    let options = Options {
        ignore_missing: args.ignore_missing,
        timing: args.timing,
        raw: args.raw,
        provenance: args.provenance,
    };
    if stats.is_none() && !args.metrics && !args.json && args.html.is_none() {
        return write_table(&args, options);
    }
    let mut opened = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let mut store = Store::open(dir)?;
        let (experiment, _) = store.read()?;
        let label = (dirs.len() > 1).then(|| dir.display().to_string());
        opened.push((label, store, experiment));
    }
    if let Some(path) = &args.html {
        let sources: Vec<exp::html::Source> = dirs
            .iter()
            .zip(&opened)
            .map(|(dir, (_, store, experiment))| exp::html::Source {
                label: dir.display().to_string(),
                store,
                experiment,
            })
            .collect();
        write_html(path, &sources, &args.over)?;
        return Ok(ExitCode::Success);
    }
    if stats.is_none() && !options.ignore_missing && !args.metrics {
        let missing: Vec<_> =
            opened.iter().map(|(label, _, experiment)| (label.as_deref(), not_done(experiment))).collect();
        if refuse(&missing) {
            return Ok(ExitCode::Failed);
        }
    }
    let sources: Vec<Source> = opened
        .iter()
        .map(|(label, store, experiment)| Source { label: label.as_deref(), store, experiment })
        .collect();
    let target = args.output.clone();
    // Rows streamed to a terminal show the progress themselves; a bar
    // would only tear them.
    let configs = sources.iter().map(|source| source.experiment.configs.len() as u64).sum();
    let mut ticker = match target.is_none() && std::io::stdout().is_terminal() {
        true => Ticker::off(),
        false => Ticker::new("configs read", Some(configs)),
    };
    let tick = &mut || ticker.tick();
    emit(target.as_deref(), |out| match &stats {
        _ if args.metrics => match args.json {
            true => write_curves_json(&sources, out, tick),
            false => write_curves_csv(&sources, args.raw, out, tick),
        },
        Some(stats) => {
            let grouping = aggregate::read(&sources, &args.over, tick)?;
            match args.json {
                true => aggregate::write_json(&sources, &grouping, stats, out),
                false => aggregate::write_csv(&sources, &grouping, stats, args.raw, out),
            }
        }
        None => write_json_many(&sources, options, out, tick),
    })?;
    drop(ticker);
    wrote(target.as_deref());
    Ok(ExitCode::Success)
}

/// The summary as CSV: each experiment's state read a line at a time and
/// kept compact ([`Table`]), the configs not done refused (without
/// --ignore-missing) before any result is read.
fn write_table(args: &Args, options: Options) -> exp::Result<ExitCode> {
    let dirs = &args.experiments.dirs;
    let labels: Vec<Option<String>> =
        dirs.iter().map(|dir| (dirs.len() > 1).then(|| dir.display().to_string())).collect();
    let mut target = args.output.clone();
    let mut table = Table::new(options);
    for (dir, label) in dirs.iter().zip(&labels) {
        let store = Store::open(dir)?;
        if args.save {
            target = Some(store.dir().join(SUMMARY_FILE));
        }
        table.read(label.as_deref(), store)?;
    }
    if !options.ignore_missing && refuse(&table.not_done()) {
        return Ok(ExitCode::Failed);
    }
    // Rows streamed to a terminal show the progress themselves; a bar
    // would only tear them.
    let mut ticker = match target.is_none() && std::io::stdout().is_terminal() {
        true => Ticker::off(),
        false => Ticker::new("configs read", Some(table.len() as u64)),
    };
    table.read_files(&mut || ticker.tick())?;
    emit(target.as_deref(), |out| table.write_csv(out))?;
    drop(ticker);
    wrote(target.as_deref());
    Ok(ExitCode::Success)
}

/// Without --ignore-missing: name each experiment's configs that are not
/// done; true if there are any, and the summary is refused.
fn refuse(missing: &[NotDone]) -> bool {
    let mut refused = false;
    for (label, missing) in missing.iter().filter(|(_, missing)| !missing.is_empty()) {
        let listed = first_few(missing.iter().map(|(name, status)| format!("{name} ({status})")), 10);
        let dir = label.map(|label| format!("{label}: ")).unwrap_or_default();
        let hint = if label.is_none() { "; --ignore-missing summarises them anyway" } else { "" };
        note(format!("{dir}{} config(s) not done: {listed}{hint}", missing.len()));
        refused = true;
    }
    if refused && missing.len() > 1 {
        note("--ignore-missing summarises them anyway");
    }
    refused
}

/// Write to `target`, atomically, or to stdout.
fn emit(target: Option<&Path>, write: impl FnOnce(&mut dyn Write) -> exp::Result<()>) -> exp::Result<()> {
    match target {
        Some(path) => {
            let mut bytes = Vec::new();
            write(&mut bytes)?;
            exp::store::atomic::write_atomic(path, &bytes)
        }
        None => write(&mut stdout()),
    }
}

/// Say where the summary went, if not to stdout.
fn wrote(target: Option<&Path>) {
    if let Some(path) = target {
        note(format!("wrote {}", path.display()));
    }
}

/// `--html FILE`: the page, written atomically, or to stdout for `-`.
fn write_html(path: &std::path::Path, sources: &[exp::html::Source], over: &[String]) -> exp::Result<()> {
    let configs = sources.iter().map(|source| source.experiment.configs.len() as u64).sum();
    let mut ticker = Ticker::new("configs read", Some(configs));
    let page = exp::html::render(sources, over, &mut || ticker.tick())?;
    drop(ticker);
    if path.as_os_str() == "-" {
        let mut out = stdout();
        out.write_all(page.as_bytes())?;
        out.flush()?;
    } else {
        exp::store::atomic::write_atomic(path, page.as_bytes())?;
        note(format!("wrote {}", path.display()));
    }
    Ok(())
}
