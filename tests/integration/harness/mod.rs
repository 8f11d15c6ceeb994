//! The one test harness, as fd's `tests/testenv`: every test file does
//! `use crate::harness::*;` and never reaches into another test file.
//!
//! Each module holds one idea: the experiment dir and running tools
//! (`dir`), ready-made experiments (`experiments`), a finished tool's
//! output with fluent assertions (`out`), a CSV table as exp-summary
//! writes it (`table`), background runners (`background`), what the state
//! says (`state`), pids and kills (`process`), what this machine can do
//! (`skip`), and the Slurm cluster (`slurm`, which only the Slurm tests
//! import, by name).

mod background;
mod dir;
mod experiments;
mod out;
mod process;
mod skip;
pub mod slurm;
mod state;
mod table;

pub use background::*;
pub use dir::*;
pub use experiments::*;
pub use out::*;
pub use process::*;
pub use skip::*;
pub use state::*;
pub use table::*;
