//! The one error type of exp, and the kinds of error that pick a tool's
//! exit code (the table itself is [`crate::exit_code::ExitCode`]).

use std::fmt;
use std::io;
use std::path::Path;

/// What went wrong, as far as the exit code is concerned: each kind maps to
/// an [`crate::exit_code::ExitCode`] (the table of `man 7 exp`, EXIT STATUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Usage error or bad input; nothing was changed. Exit 2.
    Usage,
    /// Experiment missing, corrupt, of a newer schema, or unreadable. Exit 3.
    State,
    /// Nothing can be written where it must be: the disk is full, over
    /// quota or read-only, the folder is not ours to write (EACCES, EPERM),
    /// or a folder inside the experiment is a symlink. Exit 3, as for the
    /// state; a runner stops rather than fail configs.
    Storage,
    /// Out of open files, processes or memory (EMFILE, ENFILE, EAGAIN,
    /// ENOMEM): it may pass. Exit 3 if it ends a tool; a runner backs off
    /// and retries rather than fail configs.
    Resource,
    /// Another runner is active and `--exclusive` was asked for. Exit 4.
    Busy,
    /// `--setup` failed; nothing ran. Exit 5.
    Setup,
    /// Writing to a closed pipe: the reader went away, a quiet exit 0.
    BrokenPipe,
}

impl Kind {
    /// The kind of an I/O error by its errno: what no retry of the same
    /// write can fix is storage, what may pass is a resource.
    pub fn of_errno(errno: Option<i32>) -> Kind {
        use nix::libc::{EACCES, EAGAIN, EDQUOT, EIO, EMFILE, ENFILE, ENOMEM, ENOSPC, EPERM, EROFS};
        match errno {
            Some(ENOSPC | EDQUOT | EROFS | EACCES | EPERM | EIO) => Kind::Storage,
            Some(EMFILE | ENFILE | EAGAIN | ENOMEM) => Kind::Resource,
            _ => Kind::State,
        }
    }
}

/// An error with its kind and a one-line message for people.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn usage(message: impl Into<String>) -> Error {
        Error { kind: Kind::Usage, message: message.into() }
    }

    pub fn state(message: impl Into<String>) -> Error {
        Error { kind: Kind::State, message: message.into() }
    }

    pub fn storage(message: impl Into<String>) -> Error {
        Error { kind: Kind::Storage, message: message.into() }
    }

    pub fn busy(message: impl Into<String>) -> Error {
        Error { kind: Kind::Busy, message: message.into() }
    }

    pub fn setup(message: impl Into<String>) -> Error {
        Error { kind: Kind::Setup, message: message.into() }
    }

    /// An I/O error on `path`, with what we were doing.
    pub fn io(doing: &str, path: &Path, err: io::Error) -> Error {
        if err.kind() == io::ErrorKind::BrokenPipe {
            return Error { kind: Kind::BrokenPipe, message: String::new() };
        }
        let message = format!("{doing} {}: {err}", path.display());
        Error { kind: Kind::of_errno(err.raw_os_error()), message }
    }

    /// Prefix the message with where it happened, e.g. `line 3`.
    pub fn context(mut self, at: impl fmt::Display) -> Error {
        self.message = format!("{at}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Errors writing to stdout: a broken pipe is quiet, anything else is reported.
impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        if err.kind() == io::ErrorKind::BrokenPipe {
            Error { kind: Kind::BrokenPipe, message: String::new() }
        } else {
            Error::state(format!("write error: {err}"))
        }
    }
}
