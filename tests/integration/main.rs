//! Integration tests: the real binaries on real processes, one temp dir each.

mod add;
mod init;
mod status;
mod util;
