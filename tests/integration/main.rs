//! Integration tests: the real binaries on real processes, one temp dir each.

mod add;
mod clean;
mod concurrency;
mod defects;
mod examples;
mod firsthour;
mod hostile;
mod init;
mod install;
mod interrupt;
mod replay;
mod robustness;
mod run;
mod runner3;
mod scale;
mod slurm;
mod snapshot;
mod soak;
mod status;
mod summary;
mod terminal;
mod util;
