//! The `exp-*` command-line tools: each module is one tool's flags (clap)
//! and the few lines that call the library and print. `driver` turns the
//! library's errors into the codes of `exp::ExitCode`, the exit table of
//! `man 7 exp`.

pub mod add;
pub mod clean;
pub mod driver;
pub mod help;
pub mod init;
pub mod run;
pub mod snapshot;
pub mod status;
pub mod summary;
