//! `exp-status`: what the experiment holds, for people and for `jq`.
//!
//! `--json` lines have the fields of [`Row`]: `name`, `status`, `params`
//! (merged over the defaults), `start_time`, `end_time`, `interruption_time`,
//! `duration` (seconds), `attempts`, `exit_code`, `signal`, `error`, `dir`
//! and `runner`; null where unknown. With `--results`, also `result`: the
//! config's result object, null when it has none.

use crate::identity::merged;
use crate::model::{Claim, Config, Experiment, Params, Status};
use crate::report::format_seconds;
use crate::store::Store;
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct Row<'a> {
    pub name: &'a str,
    pub status: Status,
    pub params: Params,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub interruption_time: Option<Timestamp>,
    pub duration: Option<f64>,
    pub attempts: u32,
    pub exit_code: Option<i32>,
    pub signal: Option<&'a str>,
    pub error: Option<&'a str>,
    pub dir: Option<String>,
    pub runner: Option<&'a Claim>,
    /// `--results`: Some(null) when the config has no result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

impl<'a> Row<'a> {
    pub fn new(
        store: &Store,
        experiment: &Experiment,
        name: &'a str,
        config: &'a Config,
        now: &Timestamp,
    ) -> Row<'a> {
        let dir = store.config_dir(name);
        Row {
            name,
            status: config.status,
            params: merged(&experiment.defaults, &config.params),
            start_time: config.start_time,
            end_time: config.end_time,
            interruption_time: config.interruption_time,
            duration: config.duration(now),
            attempts: config.attempts,
            exit_code: config.exit_code,
            signal: config.signal.as_deref(),
            error: config.error.as_deref(),
            dir: dir.is_dir().then(|| dir.display().to_string()),
            runner: config.runner.as_ref(),
            result: None,
        }
    }
}

/// Configs per status, plus the total: `{"todo":N,"running":N,"done":N,"failed":N,"total":N}`.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub todo: usize,
    pub running: usize,
    pub done: usize,
    pub failed: usize,
    pub total: usize,
}

impl Counts {
    pub fn of(experiment: &Experiment) -> Counts {
        let mut counts = Counts::default();
        for config in experiment.configs.values() {
            counts.add(config.status);
        }
        counts
    }

    pub fn add(&mut self, status: Status) {
        *self.get_mut(status) += 1;
        self.total += 1;
    }

    pub fn get_mut(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Todo => &mut self.todo,
            Status::Running => &mut self.running,
            Status::Done => &mut self.done,
            Status::Failed => &mut self.failed,
        }
    }
}

/// The human overview: counts, then the failed and running configs.
pub fn overview(store: &Store, experiment: &Experiment, now: &Timestamp) -> String {
    let counts = Counts::of(experiment);
    let mut out = String::new();
    let title = experiment.name.as_deref().unwrap_or("experiment");
    let _ = writeln!(out, "{title} at {}", store.dir().display());
    let _ = writeln!(
        out,
        "  {} configs: {} done, {} failed, {} running, {} todo",
        counts.total, counts.done, counts.failed, counts.running, counts.todo
    );
    let mut sections: BTreeMap<u8, Vec<String>> = BTreeMap::new();
    for (name, config) in &experiment.configs {
        match config.status {
            Status::Failed => {
                let why = match (&config.error, config.exit_code, &config.signal) {
                    (Some(error), _, _) => error.clone(),
                    (None, Some(code), _) => format!("exit {code}"),
                    (None, None, Some(signal)) => format!("killed by {signal}"),
                    _ => "failed".to_string(),
                };
                sections.entry(0).or_default().push(format!("  {name}  {why}"));
            }
            Status::Running => {
                let elapsed = config.duration(now).map(format_seconds).unwrap_or_default();
                let host = config
                    .runner
                    .as_ref()
                    .map(|c| format!("  on {} pid {}", c.host, c.pid))
                    .unwrap_or_default();
                sections.entry(1).or_default().push(format!("  {name}  {elapsed}{host}"));
            }
            _ => {}
        }
    }
    for (section, lines) in sections {
        let _ = writeln!(out, "{}:", if section == 0 { "failed" } else { "running" });
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}
