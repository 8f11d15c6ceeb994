//! Integration tests: the real binaries on real processes, one temp dir each.

mod add;
mod concurrency;
mod firsthour;
mod init;
mod interrupt;
mod robustness;
mod run;
mod status;
mod util;
