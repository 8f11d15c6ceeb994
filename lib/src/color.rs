//! Colour in what people read, and only there: statuses, warnings, exp-run's
//! lines. Data (JSON, CSV, names) is never coloured.
//!
//! `--color auto` (the default) colours stdout, and separately stderr, when
//! it is a terminal, `TERM` is not `dumb` and `NO_COLOR` is unset (set to
//! anything, even empty, it turns colour off); `always` colours both, even
//! with `NO_COLOR`; `never` neither. The choice is made once, at start, in
//! console's two global switches ([`apply`]), which every [`Style`] here and
//! indicatif's bars consult when they are printed.

pub use console::Style;
use console::Term;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Always,
    Never,
}

/// Set whether stdout and stderr are coloured, for the rest of the process.
pub fn apply(choice: Choice) {
    let allowed = |term: Term| std::env::var_os("NO_COLOR").is_none() && term.features().colors_supported();
    let (stdout, stderr) = match choice {
        Choice::Always => (true, true),
        Choice::Never => (false, false),
        Choice::Auto => (allowed(Term::stdout()), allowed(Term::stderr())),
    };
    console::set_colors_enabled(stdout);
    console::set_colors_enabled_stderr(stderr);
}

// One look per meaning, for stdout; `.for_stderr()` makes one for stderr.

pub fn done() -> Style {
    Style::new().green()
}

pub fn failed() -> Style {
    Style::new().red()
}

pub fn running() -> Style {
    Style::new().yellow()
}

/// A retry, an interruption, a warning: worth a look, not a failure.
pub fn caution() -> Style {
    Style::new().yellow()
}

/// What matters less: a command's own output on a worker line.
pub fn faint() -> Style {
    Style::new().dim()
}

/// The look of a status word.
pub fn of_status(status: crate::model::Status) -> Style {
    use crate::model::Status;
    match status {
        Status::Done => done(),
        Status::Failed => failed(),
        Status::Running => running(),
        Status::Todo => Style::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_follow_the_switches_and_keep_padding() {
        console::set_colors_enabled(true);
        let shown = format!("{:<6}|", failed().apply_to("x"));
        assert!(shown.starts_with("\x1b[31m") && shown.ends_with("x     \x1b[0m|"), "{shown:?}");
        console::set_colors_enabled(false);
        assert_eq!(format!("{:<6}|", failed().apply_to("x")), "x     |");
    }
}
