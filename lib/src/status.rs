//! `exp-status`: what the experiment holds, for people and for `jq`.
//!
//! `--json` lines have the fields of [`Row`]: `name`, `status`, `params`
//! (merged over the defaults), `start_time`, `end_time`, `interruption_time`,
//! `duration` (seconds), `attempts`, `exit_code`, `signal`, `error`, `dir`,
//! `runner` (`{"id","host","pid","worker"}`, and `"devices"` when it holds
//! some, while it runs), `host` (where its latest attempt ran) and `commit`
//! (the git commit of the workdir when it started, kept in its record);
//! null where unknown. With `--results`, also `result`: the
//! config's result object, null when it has none, and `metrics`: the last
//! line of its latest attempt's `metrics.jsonl` (a todo config: null).
//! Without `--results` no config's folder is read.

use crate::color;
use crate::error::Result;
use crate::identity::merged;
use crate::metrics::{metrics_of, progress_line};
use crate::model::{Claim, Config, Params, Status};
use crate::report::format_seconds;
use crate::results::result_of;
use crate::store::census::Census;
use crate::store::Store;
use crate::time::Timestamp;
use serde::Serialize;
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
    /// The host its latest attempt ran on (kept when it ends).
    pub host: Option<&'a str>,
    /// The git commit its latest attempt started from (kept when it ends).
    pub commit: Option<&'a str>,
    /// `--results`: Some(null) when the config has no result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// `--results`: its last metrics line, Some(null) when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<serde_json::Value>,
}

impl<'a> Row<'a> {
    pub fn new(
        store: &Store,
        defaults: &Params,
        name: &'a str,
        config: &'a Config,
        now: &Timestamp,
    ) -> Row<'a> {
        let dir = store.config_dir(name);
        Row {
            name,
            status: config.status,
            params: merged(defaults, &config.params),
            start_time: config.start_time,
            end_time: config.end_time,
            interruption_time: config.interruption_time,
            duration: config.duration(now),
            attempts: config.attempts,
            exit_code: config.exit_code,
            signal: config.signal.as_deref(),
            error: config.error.as_deref(),
            // A config's folder is made when it first starts.
            dir: (config.attempts > 0).then(|| dir.display().to_string()),
            runner: config.runner.as_ref(),
            host: config.host.as_deref(),
            commit: config.commit.as_deref(),
            result: None,
            metrics: None,
        }
    }

    /// With its result (`--results`): Some(null) when it has none.
    pub fn with_result(mut self, store: &Store, results: bool) -> Row<'a> {
        if results {
            self.result = Some(result_of(store, self.name, self.status).unwrap_or_default());
            let metrics = metrics_of(store, self.name, self.status);
            self.metrics = Some(metrics.map(serde_json::Value::Object).unwrap_or_default());
        }
        self
    }
}

/// The human overview: counts, then the failed configs with why (aligned),
/// then the running ones, each with its last metrics line, else the last
/// line it printed, cut to `width` columns (a terminal's; else
/// [`PLAIN_WIDTH`]); statuses coloured for stdout ([`crate::color`]).
pub fn overview(store: &Store, census: &Census, now: &Timestamp, width: Option<usize>) -> Result<String> {
    let counts = census.counts();
    let experiment = &census.experiment;
    let mut out = String::new();
    let title = experiment.name.as_deref().unwrap_or("experiment");
    let _ = writeln!(out, "{title} at {}", store.dir().display());
    // A count of nothing needs no colour to be noticed.
    let count = |status: Status| {
        let n = counts.get(status);
        let look = if n > 0 { color::of_status(status) } else { color::Style::new() };
        look.apply_to(format!("{n} {status}"))
    };
    let _ = writeln!(
        out,
        "  {} configs: {}, {}, {}, {}",
        counts.total,
        count(Status::Done),
        count(Status::Failed),
        count(Status::Running),
        count(Status::Todo)
    );
    let mut failed = Vec::new();
    let mut running = Vec::new();
    for (name, entry) in &census.configs {
        if !matches!(entry.status(), Status::Failed | Status::Running) {
            continue;
        }
        let config = entry.read()?;
        match config.status {
            Status::Failed => failed.push((name.as_str(), why_failed(&config), None)),
            Status::Running => {
                let elapsed = config.duration(now).map(format_seconds).unwrap_or_default();
                let host = config
                    .runner
                    .as_ref()
                    .map(|c| match &c.devices {
                        Some(devices) => format!("on {} pid {}, devices {devices}", c.host, c.pid),
                        None => format!("on {} pid {}", c.host, c.pid),
                    })
                    .unwrap_or_default();
                let last = progress_line(&store.config_files(name));
                running.push((name.as_str(), format!("{elapsed:>7}  {host}"), last));
            }
            _ => {}
        }
    }
    let shown_width = width.unwrap_or(PLAIN_WIDTH);
    for (status, lines) in [(Status::Failed, failed), (Status::Running, running)] {
        if lines.is_empty() {
            continue;
        }
        let width = lines.iter().map(|(name, ..)| name.chars().count()).max().unwrap_or(0);
        let details = lines.iter().map(|(_, detail, _)| detail.chars().count()).max().unwrap_or(0);
        let look = color::of_status(status);
        let _ = writeln!(out, "{}:", look.apply_to(status));
        for (name, detail, last) in lines {
            let row = format!("  {:<width$}  {detail}", look.apply_to(name));
            // A running config's last line goes last, in the room left.
            let Some(last) = last else {
                let _ = writeln!(out, "{row}");
                continue;
            };
            let row = row + &" ".repeat(details - detail.chars().count());
            let room = shown_width.saturating_sub(console::measure_text_width(&row) + 2);
            match room {
                0..4 => writeln!(out, "{}", row.trim_end()),
                _ => writeln!(out, "{row}  {}", console::truncate_str(&last, room, "…")),
            }
            .expect("writing to a String");
        }
    }
    Ok(out)
}

/// Where the overview cuts a running config's last line off a terminal.
pub const PLAIN_WIDTH: usize = 100;

/// What a failed config's record says of its failure.
pub fn why_failed(config: &Config) -> String {
    match (&config.error, config.exit_code, &config.signal) {
        (Some(error), _, _) => error.clone(),
        (None, Some(code), _) => format!("exit code {code}"),
        (None, None, Some(signal)) => format!("killed by {signal}"),
        _ => "failed".to_string(),
    }
}

/// `--status S` for people: the configs with those statuses, one aligned
/// row each (name, status, duration, attempts, params); each row is cut to
/// `width` characters when given (a terminal's width).
pub fn table(census: &Census, statuses: &[Status], now: &Timestamp, width: Option<usize>) -> Result<String> {
    let mut rows: Vec<[String; 5]> = Vec::new();
    for (name, entry) in census.configs.iter().filter(|(_, e)| statuses.contains(&e.status())) {
        let config = entry.read()?;
        rows.push([
            name.clone(),
            config.status.to_string(),
            config.duration(now).map(format_seconds).unwrap_or_else(|| "-".into()),
            config.attempts.to_string(),
            serde_json::Value::Object(merged(&census.experiment.defaults, &config.params)).to_string(),
        ]);
    }
    let header = ["NAME", "STATUS", "DURATION", "ATTEMPTS", "PARAMS"].map(str::to_string);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        // The header's STATUS is no status: Todo's look, which is none.
        let look = row[1].parse::<Status>().map(color::of_status).unwrap_or_default();
        let line = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {}",
            row[0],
            look.apply_to(&row[1]),
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
        let _ = writeln!(out, "{}", cut(&line, width));
    }
    if rows.is_empty() {
        let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(out, "(no {} config)", names.join(" or "));
    }
    Ok(out)
}

/// `line` cut to `width` columns, with an ellipsis where it was cut
/// (colour codes take none and are kept whole).
fn cut(line: &str, width: Option<usize>) -> String {
    match width {
        Some(width) if width > 1 => console::truncate_str(line, width, "…").into_owned(),
        _ => line.to_string(),
    }
}
