//! `exp-add DIR`: add configs from a grid or JSON Lines.

use crate::driver::{json_line, stdout, ExperimentDir};
use clap::Parser;
use exp::add::{add, read_json_lines, stdin_has_lines, with_grid};
use exp::report::note;
use exp::store::Store;
use exp::Error;
use std::io::{BufReader, IsTerminal, Write};
use std::path::PathBuf;

/// Add configs to an experiment, all or nothing.
///
/// Configs come from `--grid` (the cartesian product of all grids), from
/// JSON Lines of params objects (`-f FILE`, `-f -` or stdin when neither is
/// given), or both (each line crossed with the grid). A config that already
/// exists (same params over the defaults; 1 and 1.0 are equal) is not added
/// again. Prints one JSON line per config: {"name","params","added"}.
#[derive(Debug, Parser)]
#[command(name = "exp-add", version)]
pub struct Args {
    #[command(flatten)]
    pub experiment: ExperimentDir,
    /// A grid axis KEY=V1,V2,... or KEY=A..B (inclusive integers). Repeatable.
    #[arg(long, value_name = "KEY=VALUES")]
    pub grid: Vec<String>,
    /// JSON Lines of params, one object per line; `-` is stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Add a default param KEY=VALUE (never change one). Repeatable.
    #[arg(long = "default", value_name = "KEY=VALUE")]
    pub defaults: Vec<String>,
}

pub fn main() -> exp::Result<i32> {
    let args = Args::parse();
    let mut store = Store::open(&args.experiment.dir)?;
    let stdin = std::io::stdin();
    let rows = match &args.file {
        Some(path) if path.as_os_str() == "-" => Some(read_json_lines(stdin.lock(), "stdin")?),
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|err| Error::usage(format!("-f {}: {err}", path.display())))?;
            Some(read_json_lines(BufReader::new(file), &path.display().to_string())?)
        }
        None if !args.grid.is_empty() => {
            if stdin_has_lines() {
                note("stdin is a pipe or a file, but only --grid was given: its lines are ignored (-f - crosses them with the grid)");
            }
            None
        }
        None if !args.defaults.is_empty() && stdin.is_terminal() => Some(Vec::new()),
        None => Some(read_json_lines(stdin.lock(), "stdin")?),
    };
    let rows = with_grid(rows, &args.grid)?;
    let results = add(&mut store, rows, &args.defaults)?;
    let added = results.iter().filter(|r| r.added).count();
    let mut out = stdout();
    for result in &results {
        json_line(&mut out, result)?;
    }
    out.flush()?;
    note(format!("{added} config(s) added, {} already present", results.len() - added));
    Ok(0)
}
