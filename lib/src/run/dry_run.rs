//! `exp-run --dry-run`: what a run would start, changing nothing. For each
//! config: its name, its argv, and the variables exp would set for it (the
//! experiment's env and `--env`, `{worker}` filled with the slot it would
//! take if configs took turns, and `{devices}` with the devices that slot
//! would hold if no one else held any, the `EXP_*` variables), never the inherited
//! environment; `--setup` is not run, so what it would print is not shown.
//!
//! ```text
//! c0: python3 train.py --lr 0.1
//!     EXP_DIR=/data/sweep
//!     EXP_NAME=c0
//!     ...
//! ```
//!
//! With `--json`, one object per config: `{"name","argv","env"}`, `env` an
//! object in the order the variables are set.

use super::{check_request, Options};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::run::spawn::{Invocation, Launcher};
use crate::select::Selection;
use crate::store::Store;
use crate::template::shell_quote;
use std::io::Write;

pub fn dry_run(store: &mut Store, options: &Options, selection: &Selection) -> Result<ExitCode> {
    let (experiment, _) = store.read()?;
    let launcher = Launcher::new(store, &experiment, &options.env, options.cache)?;
    check_request(&experiment, &launcher, options, selection)?;
    if options.setup.is_some() {
        crate::report::note("--dry-run does not run --setup: the variables it would print are not shown");
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let failed_too = options.retry_failed || selection.by_name();
    let candidates =
        experiment.configs.iter().filter(|(name, entry)| selection.wants(name, entry.status(), failed_too));
    for (i, (name, entry)) in candidates.take(options.limit.unwrap_or(usize::MAX)).enumerate() {
        let files = store.config_files(name);
        let attempt = entry.read()?.attempts + 1;
        let worker = i % options.jobs.max(1);
        let devices = options.devices.as_ref().map(|devices| devices.preview(worker));
        let Invocation { argv, env, .. } =
            launcher.invocation(&experiment, &files, name, attempt, worker, devices.as_deref())?;
        // For people and JSON: a path that is not UTF-8 is shown lossily.
        let env = env.iter().map(|(key, value)| (key, value.to_string_lossy()));
        if options.json {
            let env: serde_json::Map<String, serde_json::Value> =
                env.map(|(key, value)| (key.clone(), value.into())).collect();
            writeln!(out, "{}", serde_json::json!({"name": name, "argv": argv, "env": env}))?;
        } else {
            writeln!(out, "{name}: {}", words(&argv))?;
            for (key, value) in env {
                writeln!(out, "    {key}={}", shell_quote(&value))?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::Success)
}

/// An argv as a shell line.
fn words(argv: &[String]) -> String {
    argv.iter().map(|arg| shell_quote(arg)).collect::<Vec<_>>().join(" ")
}
