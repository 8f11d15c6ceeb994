//! exp: the library behind the `exp-*` tools. All the logic lives here;
//! the binaries only parse flags, call in, and print.

pub mod add;
pub mod aggregate;
pub mod clean;
pub mod color;
pub mod duration;
pub mod error;
pub mod exit_code;
pub mod format_spec;
pub mod grid;
pub mod hash;
pub mod host;
pub mod identity;
pub mod init;
pub mod logs;
pub mod model;
pub mod naming;
pub mod process;
pub mod report;
pub mod results;
pub mod rows;
pub mod run;
pub mod runners;
pub mod sample;
pub mod select;
pub mod shell;
pub mod snapshot;
pub mod status;
pub mod store;
pub mod template;
pub mod ticker;
pub mod time;
pub mod values;
pub mod watch;

pub use error::{Error, Kind, Result};
pub use exit_code::ExitCode;
