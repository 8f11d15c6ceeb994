//! Integration tests: the real binaries on real processes, one temp dir each.

mod add;
mod clean;
mod compat;
mod concurrency;
mod defects;
mod examples;
mod files3;
mod firsthour;
mod hostile;
mod hosts;
mod init;
mod install;
mod interrupt;
mod replay;
mod robustness;
mod run;
mod scale;
mod slurm;
mod slurm_nodes;
mod snapshot;
mod soak;
mod status;
mod summary;
mod templates3;
mod terminal;
mod util;
