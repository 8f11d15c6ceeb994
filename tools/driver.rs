//! The one place that turns a tool's outcome into a message and an exit
//! code, and that applies the flags every tool shares (`--color`).

use clap::FromArgMatches;
use exp::report::note;
use exp::{ExitCode, Kind, Result};
use std::io::{self, BufRead, BufReader, BufWriter, StdoutLock, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What every tool takes: the experiment directory (its first positional
/// argument), and how output looks to people.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// The experiment directory [default: $EXP_DIR, else .]
    #[arg(env = "EXP_DIR", default_value = ".", hide_default_value = true, hide_env = true)]
    pub dir: PathBuf,
    #[command(flatten)]
    pub looks: Looks,
}

/// [`Common`] for a tool that reads several experiments at once (exp-summary).
#[derive(Debug, clap::Args)]
pub struct CommonMany {
    /// The experiment directories [default: $EXP_DIR, else .]
    #[arg(value_name = "DIR", num_args = 1.., env = "EXP_DIR", default_value = ".", hide_default_value = true, hide_env = true)]
    pub dirs: Vec<PathBuf>,
    #[command(flatten)]
    pub looks: Looks,
}

/// How output looks to people, in every tool.
#[derive(Debug, clap::Args)]
pub struct Looks {
    /// Colour what people read: auto (on a terminal, unless NO_COLOR is
    /// set), always, or never. Data (JSON, CSV, names) is never coloured.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Color::Auto)]
    pub color: Color,
}

/// `--color`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Parse a tool's flags (`Args` flattens [`Common`] or [`CommonMany`]) and
/// apply the shared ones: the one place where `--color` takes effect, before
/// anything is printed.
pub fn parse<A: clap::Parser>() -> A {
    let mut matches = A::command().try_get_matches().unwrap_or_else(|err| usage_error(err));
    let looks = Looks::from_arg_matches(&matches).unwrap_or_else(|err| usage_error(err));
    exp::color::apply(match looks.color {
        Color::Auto => exp::color::Choice::Auto,
        Color::Always => exp::color::Choice::Always,
        Color::Never => exp::color::Choice::Never,
    });
    A::from_arg_matches_mut(&mut matches).unwrap_or_else(|err| usage_error(err.format(&mut A::command())))
}

/// Exit on what clap could not parse, said like every other message of the
/// tools (`exp-run: unexpected argument ...`), exit 2 (clap's code too).
/// `--help` and `--version` are not errors: clap prints them as it does.
fn usage_error(err: clap::Error) -> ! {
    if !err.use_stderr() {
        err.exit()
    }
    let text = err.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let _ = write!(io::stderr().lock(), "{}: {text}", exp::report::program());
    std::process::exit(ExitCode::Usage.code())
}

/// A clap value parser for a duration option (`90`, `30s`, `3h50m`).
pub fn duration(option: &'static str) -> impl Fn(&str) -> std::result::Result<Duration, String> + Clone {
    move |text| exp::duration::parse(option, text).map_err(|err| err.message)
}

/// Run a tool and exit with its code. Only this function exits.
pub fn main(tool: fn() -> Result<ExitCode>) -> ! {
    let code = match tool() {
        Ok(code) => code,
        Err(err) => {
            // A broken pipe is a quiet exit: no one is left to read.
            if err.kind != Kind::BrokenPipe {
                note(&err);
            }
            ExitCode::from(err.kind)
        }
    };
    std::process::exit(code.code())
}

/// Buffered stdout for data (in 64 KiB writes: a listing of millions of
/// lines costs few calls); a broken pipe surfaces as a quiet error.
pub fn stdout() -> BufWriter<StdoutLock<'static>> {
    BufWriter::with_capacity(1 << 16, io::stdout().lock())
}

/// Write one JSON value as a line.
pub fn json_line(out: &mut impl Write, value: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Read a list given to `option` as a FILE, or stdin for `-`; a file that
/// cannot be opened is bad usage (exit 2).
pub fn read_list<T>(
    path: &Path,
    option: &str,
    parse: impl FnOnce(&mut dyn BufRead, &str) -> Result<T>,
) -> Result<T> {
    if path.as_os_str() == "-" {
        return parse(&mut io::stdin().lock(), &format!("{option} -"));
    }
    let file = std::fs::File::open(path)
        .map_err(|err| exp::Error::usage(format!("{option} {}: {err}", path.display())))?;
    parse(&mut BufReader::new(file), &format!("{option} {}", path.display()))
}

/// The terminal's width in columns (stdout's, else 100).
pub fn terminal_width() -> usize {
    console::Term::stdout().size_checked().map_or(100, |(_, columns)| usize::from(columns))
}
