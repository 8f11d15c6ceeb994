//! Integration tests: the real binaries on real processes, one temp dir each.

mod add;
mod concurrency;
mod init;
mod interrupt;
mod robustness;
mod run;
mod slurm;
mod status;
mod util;
