//! `exp-add DIR`: add configs from a grid or JSON Lines.

use crate::driver::{stdout, Common};
use clap::Parser;
use exp::add::{add, rows, stdin_has_lines};
use exp::report::note;
use exp::store::Store;
use exp::ticker::Ticker;
use exp::{Error, ExitCode};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;

/// The examples that end `exp-add --help` and fill EXAMPLES in its man page.
pub const EXAMPLES: &[crate::help::Example] = &[
    crate::help::Example {
        about: "Add the cartesian product of two grids (6 configs)",
        command: "exp-add runs/lr --grid model=mlp,cnn --grid lr=0.001,0.01,0.1",
    },
    crate::help::Example {
        about: "Every params line of models.jsonl with five seeds",
        command: "exp-add runs/lr -f models.jsonl --grid seed=0..4",
    },
    crate::help::Example {
        about: "Copy the done configs of one experiment into another",
        command: "exp-status runs/lr --json --status done | jq -c .params | exp-add runs/lr2",
    },
];

/// Add configs to an experiment, all or nothing.
///
/// Configs come from `--grid` (the cartesian product of all grids), from
/// JSON Lines of params objects (`-f FILE`, `-f -` or stdin when neither is
/// given), or both (each line crossed with the grid). A config that already
/// exists (same params over the defaults; 1 and 1.0 are equal) is not added
/// again. Prints one JSON line per config: {"name","params","added"}.
#[derive(Debug, Parser)]
#[command(after_help = crate::help::short("exp-add", EXAMPLES), after_long_help = crate::help::long("exp-add", EXAMPLES))]
#[command(name = "exp-add", version)]
pub struct Args {
    #[command(flatten)]
    pub experiment: Common,
    /// A grid axis KEY=V1,V2,..., KEY=A..B[:STEP] (inclusive; decimals
    /// exact, e.g. lr=0.1..0.5:0.1) or the geometric KEY=A..B:xF (A, A*F,
    /// A*F^2... up to B; exact, e.g. C=0.001..1000:x10). Repeatable.
    #[arg(long, value_name = "KEY=VALUES")]
    pub grid: Vec<String>,
    /// JSON Lines of params, one object per line; `-` is stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Add a default param KEY=VALUE (never change one). Repeatable.
    #[arg(long = "default", value_name = "KEY=VALUE")]
    pub defaults: Vec<String>,
}

pub fn main() -> exp::Result<ExitCode> {
    let args = crate::driver::parse::<Args>();
    let mut store = Store::open(&args.experiment.dir)?;
    let stdin = std::io::stdin();
    let input: Option<(Box<dyn BufRead>, String)> = match &args.file {
        Some(path) if path.as_os_str() == "-" => Some((Box::new(stdin.lock()), "stdin".into())),
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|err| Error::usage(format!("-f {}: {err}", path.display())))?;
            Some((Box::new(BufReader::new(file)), path.display().to_string()))
        }
        None if !args.grid.is_empty() => {
            if stdin_has_lines() {
                note("stdin is a pipe or a file, but only --grid was given: its lines are ignored (-f - crosses them with the grid)");
            }
            None
        }
        None if !args.defaults.is_empty() && stdin.is_terminal() => {
            Some((Box::new(std::io::empty()), "".into()))
        }
        None => Some((Box::new(stdin.lock()), "stdin".into())),
    };
    // All of the input is read before exp-add takes the experiment's lock:
    // a slow pipe or a terminal must never stall the runners meanwhile.
    let input = match input {
        Some((mut reader, source)) => {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).map_err(|err| Error::usage(format!("{source}: {err}")))?;
            Some((Box::new(std::io::Cursor::new(bytes)) as Box<dyn BufRead>, source))
        }
        None => None,
    };
    let rows = rows(input, &args.grid)?;
    let mut ticker = Ticker::new("rows read", None);
    let report = add(&mut store, ticker.count(rows), &args.defaults)?;
    drop(ticker);
    let mut out = stdout();
    out.write_all(&report.lines)?;
    out.flush()?;
    if !args.defaults.is_empty() {
        note(format!("default(s) in place: {}", args.defaults.join(", ")));
    }
    note(format!("{} config(s) added, {} already present", report.added, report.present));
    Ok(ExitCode::Success)
}
