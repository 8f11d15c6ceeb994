//! `exp-add DIR`: add configs from a grid, JSON Lines or drawn samples.

use crate::driver::{stdout, Common};
use clap::Parser;
use exp::add::{add_with, rows, stdin_has_lines, Options};
use exp::report::note;
use exp::sample::{cross, Request, Sampler, Sampling};
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
        about: "20 draws per model, the same on every run; --sample 40 later adds 20 more",
        command: "exp-add runs/lr --grid model=mlp,cnn --sample 20 \\\n    --dist 'lr=loguniform(1e-5,1e-1)' --dist 'layers=int(1,8)' \\\n    --dist 'opt=choice(adam,sgd)'",
    },
    crate::help::Example {
        about: "Copy the done configs of one experiment into another",
        command: "exp-status runs/lr --json --status done | jq -c .params | exp-add runs/lr2",
    },
];

/// Add configs to an experiment, all or nothing.
///
/// Configs come from `--grid` (the cartesian product of all grids), from
/// JSON Lines of params objects (`-f FILE`, `-f -` or stdin when none of
/// --grid, -f and --sample is given), from `--sample N` draws, or from
/// several: each line crossed with the grid, each of those crossed with the
/// draws. A config that already exists (same params over the defaults; 1
/// and 1.0 are equal) is not added again. Prints one JSON line per config:
/// {"name","params","added"}.
///
/// Draws are reproducible: the same --seed and --dist flags give the same
/// configs on every platform and release, draw k depending only on the
/// seed, k and the set of --dist keys (not their order), so --sample 40
/// after --sample 20 adds draws 20 to 39 and nothing else. man 7 exp
/// gives the mapping from seed to value.
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
    /// Draw N configs from the --dist distributions (1 to 10 million), the
    /// same N for every grid point and line.
    #[arg(long, value_name = "N", help_heading = "Sampling", allow_negative_numbers = true)]
    pub sample: Option<u64>,
    /// A key to draw and its distribution, one of: uniform(A,B);
    /// loguniform(A,B), 0 < A < B, uniform in log space; int(A,B), an
    /// integer A to B inclusive; logint(A,B), 1 <= A < B, an integer drawn
    /// log-uniformly; normal(MU,SIGMA), SIGMA > 0; choice(V1,V2,...), two or
    /// more distinct scalars, each trimmed of spaces and read as --grid
    /// reads values (JSON where it parses, else a string; commas inside
    /// quotes split nothing). A < B always; numbers are decimals (0.1, -3,
    /// 1e-5), integers are integers. Repeatable, one per key.
    #[arg(long = "dist", value_name = "KEY=SPEC", help_heading = "Sampling")]
    pub dists: Vec<String>,
    /// The seed of the draws, 0 to 2^64-1 [default: 0].
    #[arg(long, value_name = "S", help_heading = "Sampling", allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// random: independent draws (ChaCha8); sobol: an Owen-scrambled Sobol
    /// sequence, spread more evenly (up to 256 keys) [default: random].
    #[arg(long, value_enum, value_name = "SAMPLER", help_heading = "Sampling")]
    pub sampler: Option<SamplerArg>,
    /// Round drawn floats to D significant digits, then clamp them to their
    /// bounds; 0 keeps every digit [default: 4].
    #[arg(long, value_name = "D", help_heading = "Sampling")]
    pub digits: Option<u32>,
    /// Print the lines of what would be added ("name" null where it would
    /// be a fresh UUID) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--sampler`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SamplerArg {
    Random,
    Sobol,
}

pub fn main() -> exp::Result<ExitCode> {
    let args = crate::driver::parse::<Args>();
    // Bad flags are refused before stdin is read.
    let sampling = Sampling::new(&Request {
        count: args.sample,
        dists: args.dists.clone(),
        seed: args.seed,
        sampler: args.sampler.map(|sampler| match sampler {
            SamplerArg::Random => Sampler::Random,
            SamplerArg::Sobol => Sampler::Sobol,
        }),
        digits: args.digits,
    })?;
    let mut store = Store::open(&args.experiment.dir)?;
    let stdin = std::io::stdin();
    let input: Option<(Box<dyn BufRead>, String)> = match &args.file {
        Some(path) if path.as_os_str() == "-" => Some((Box::new(stdin.lock()), "stdin".into())),
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|err| Error::usage(format!("-f {}: {err}", path.display())))?;
            Some((Box::new(BufReader::new(file)), path.display().to_string()))
        }
        None if !args.grid.is_empty() || args.sample.is_some() => {
            if stdin_has_lines() {
                note("stdin is a pipe or a file, but no -f was given: its lines are ignored (-f - crosses them with --grid and --sample)");
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
    let drawn = sampling.as_ref().map(|s| s.keys().map(str::to_string).collect()).unwrap_or_default();
    let rows = cross(rows(input, &args.grid)?, sampling, &args.grid)?;
    let options = Options { defaults: &args.defaults, drawn, dry_run: args.dry_run };
    let mut ticker = Ticker::new("rows read", None);
    let mut report = add_with(&mut store, ticker.count(rows), &options)?;
    drop(ticker);
    let mut out = stdout();
    let (added, present) = (report.added, report.present);
    report.lines.write_to(&mut out)?;
    out.flush()?;
    if args.dry_run {
        note(format!("{added} config(s) would be added, {present} already present"));
        return Ok(ExitCode::Success);
    }
    if !args.defaults.is_empty() {
        note(format!("default(s) in place: {}", args.defaults.join(", ")));
    }
    note(format!("{added} config(s) added, {present} already present"));
    Ok(ExitCode::Success)
}
