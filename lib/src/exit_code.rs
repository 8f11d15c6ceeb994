//! The exit codes of the `exp-*` tools: one enum whose variants carry their
//! code and their meaning, the one table from which the driver exits and
//! `--help`, the man pages and exp(7) write theirs (as fd's `exit_codes.rs`).

use crate::error::Kind;

/// How a tool ends, as its exit code says. The same codes in every tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: all went well.
    Success,
    /// 1: a config this run ran failed, `--check` not satisfied, configs not
    /// done.
    Failed,
    /// 2: bad usage or input; nothing was changed.
    Usage,
    /// 3: the experiment is missing, corrupt or of a newer schema, or the
    /// storage or resources failed us ([`Kind::State`], [`Kind::Storage`],
    /// [`Kind::Resource`]).
    State,
    /// 4: another runner is active.
    Busy,
    /// 5: `--setup` failed; nothing ran.
    Setup,
    /// 128+N: stopped by signal N.
    Interrupted(i32),
    /// 0, quietly: the reader of stdout went away (`| head`).
    BrokenPipe,
    /// `exp-run --replay NAME`: the replayed command's own exit code, which
    /// `--replay`'s help documents (it is no code of exp's own, so it is not
    /// in [`ExitCode::TABLE`]).
    Replayed(i32),
}

impl ExitCode {
    /// The codes the exit table of `--help`, the man pages and exp(7) lists,
    /// in its order (`Interrupted(0)` stands for every signal).
    pub const TABLE: [ExitCode; 8] = [
        ExitCode::Success,
        ExitCode::BrokenPipe,
        ExitCode::Failed,
        ExitCode::Usage,
        ExitCode::State,
        ExitCode::Busy,
        ExitCode::Setup,
        ExitCode::Interrupted(0),
    ];

    /// Stopped by `signal`: exit 128+N.
    pub fn interrupted(signal: i32) -> ExitCode {
        ExitCode::Interrupted(signal)
    }

    /// 1 if anything `failed` (configs of this run, `--check`), else 0.
    pub fn failed_if(failed: bool) -> ExitCode {
        if failed {
            ExitCode::Failed
        } else {
            ExitCode::Success
        }
    }

    /// The number the process exits with.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success | ExitCode::BrokenPipe => 0,
            ExitCode::Failed => 1,
            ExitCode::Usage => 2,
            ExitCode::State => 3,
            ExitCode::Busy => 4,
            ExitCode::Setup => 5,
            ExitCode::Interrupted(signal) => 128 + signal,
            ExitCode::Replayed(code) => code,
        }
    }

    /// The code as the table writes it: `0`, ..., `128+N`.
    pub fn label(self) -> String {
        match self {
            ExitCode::Interrupted(_) => "128+N".to_string(),
            ExitCode::Replayed(_) => "N".to_string(),
            code => code.code().to_string(),
        }
    }

    /// What the code means, one line, for the table of `--help` and the man
    /// pages (a second meaning of the same code joins the first's row).
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::BrokenPipe => "a quiet end when the reader of stdout goes away (| head)",
            ExitCode::Failed => {
                "a config this run ran failed (exp-run); --check not satisfied (exp-status); \
                 configs not done (exp-summary without --ignore-missing)"
            }
            ExitCode::Usage => "bad usage or input: nothing was changed",
            ExitCode::State => {
                "the experiment is missing, corrupt or of a newer schema, or the disk is full or \
                 read-only"
            }
            ExitCode::Busy => "busy: another runner is active (exp-run --exclusive, exp-init --update)",
            ExitCode::Setup => "exp-run --setup failed: nothing ran",
            ExitCode::Interrupted(_) => {
                "interrupted by signal N (exp-run: the configs it was running are back to todo)"
            }
            ExitCode::Replayed(_) => "exp-run --replay NAME: the exit code of the command replayed",
        }
    }

    /// A few words for the one-line summary that ends `-h`, or none where
    /// the code's first meaning says it.
    pub fn brief(self) -> Option<&'static str> {
        match self {
            ExitCode::Success => Some("ok"),
            ExitCode::Failed => Some("failed (or --check)"),
            ExitCode::Usage => Some("bad usage (nothing changed)"),
            ExitCode::State => Some("experiment or disk"),
            ExitCode::Busy => Some("busy"),
            ExitCode::Setup => Some("--setup"),
            ExitCode::Interrupted(_) => Some("signal N"),
            ExitCode::BrokenPipe | ExitCode::Replayed(_) => None,
        }
    }

    /// The table, one row per code: (label, meaning), the meanings of a
    /// code that ends several ways joined on one row.
    pub fn table() -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = Vec::new();
        for code in ExitCode::TABLE {
            match rows.iter_mut().find(|(label, _)| *label == code.label()) {
                Some((_, meaning)) => {
                    meaning.push_str(", or ");
                    meaning.push_str(code.meaning());
                }
                None => rows.push((code.label(), code.meaning().to_string())),
            }
        }
        rows
    }
}

/// The code a tool ends with on an error of this kind.
impl From<Kind> for ExitCode {
    fn from(kind: Kind) -> ExitCode {
        match kind {
            Kind::Usage => ExitCode::Usage,
            Kind::State | Kind::Storage | Kind::Resource => ExitCode::State,
            Kind::Busy => ExitCode::Busy,
            Kind::Setup => ExitCode::Setup,
            Kind::BrokenPipe => ExitCode::BrokenPipe,
        }
    }
}

/// The number, for the callers that still return one (`Ok(code.into())`
/// compiles whether they return an `i32` or an `ExitCode`).
impl From<ExitCode> for i32 {
    fn from(code: ExitCode) -> i32 {
        code.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_the_number_the_spec_gives_it() {
        let codes = [
            (ExitCode::Success, 0),
            (ExitCode::BrokenPipe, 0),
            (ExitCode::Failed, 1),
            (ExitCode::Usage, 2),
            (ExitCode::State, 3),
            (ExitCode::Busy, 4),
            (ExitCode::Setup, 5),
            (ExitCode::interrupted(2), 130),
            (ExitCode::interrupted(15), 143),
            (ExitCode::Replayed(7), 7),
        ];
        for (code, number) in codes {
            assert_eq!(code.code(), number, "{code:?}");
            assert_eq!(i32::from(code), number, "{code:?}");
        }
        assert_eq!(ExitCode::failed_if(true), ExitCode::Failed);
        assert_eq!(ExitCode::failed_if(false), ExitCode::Success);
    }

    #[test]
    fn every_kind_of_error_ends_with_a_code_of_the_table() {
        let kinds = [Kind::Usage, Kind::State, Kind::Storage, Kind::Resource, Kind::Busy, Kind::Setup];
        for kind in kinds {
            let code = ExitCode::from(kind);
            assert!(ExitCode::TABLE.contains(&code), "{kind:?}: {code:?}");
        }
        assert_eq!(ExitCode::from(Kind::BrokenPipe), ExitCode::BrokenPipe);
        assert_eq!(ExitCode::from(Kind::Storage).code(), 3);
    }

    #[test]
    fn the_table_has_one_row_per_code_in_order() {
        let labels: Vec<String> = ExitCode::table().into_iter().map(|(label, _)| label).collect();
        assert_eq!(labels, ["0", "1", "2", "3", "4", "5", "128+N"]);
        assert!(ExitCode::TABLE.iter().all(|code| !code.meaning().contains('\n')));
    }
}
