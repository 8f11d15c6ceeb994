//! `exp-status --watch`: every config as `exp-status` shows it, then one
//! line per change (added, started, ended, reset, removed), until the
//! reader of its output goes away (exit 0) or a signal stops it (128+N).
//!
//! `--json` lines are `exp-status --json`'s rows, after the change; a
//! removed config's row is its last known one with `"status": "removed"`
//! (and, with `--results`, a null `result` and `metrics`: its folder is
//! no longer its own; an ending's `metrics` is its attempt's last line). `--status S` keeps the lines whose status after the change is S.
//! People get `19:18:02 lr0.1-s0 running -> done 12.3s`.
//!
//! It polls: a stat of the state file and of the journal every
//! [`POLL`]; only when either changed does it take the shared lock and
//! read what is new ([`Store::changes`]: the journal's new lines, or after
//! a fold the lines it kept and the new state), so a change shows within
//! about [`POLL`] on the same host (on a network filesystem, its
//! attribute-cache time). It never writes to the experiment, except that, as `exp-status`
//! does, it first puts back to todo the claims of runners that are gone;
//! later ones it leaves to the runners (which recover them when they run
//! out of work) and to the next `exp-status`, and tells of the recovery
//! when it comes.

mod tracker;
mod wait;

pub use tracker::{Change, Tracker, WatchStatus};

use crate::color;
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::model::{Config, Status};
use crate::report::format_seconds;
use crate::runners::{read_recovering, snapshot_recovering};
use crate::status::{overview, table, why_failed, Row};
use crate::store::census::Census;
use crate::store::config_files::{ConfigFiles, METRICS};
use crate::store::stream::Snapshot;
use crate::store::{Changes, Store};
use crate::time::Timestamp;
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::time::Duration;
use wait::{Wait, Woke};

/// How often the files are looked at.
pub const POLL: Duration = Duration::from_millis(100);

/// What to watch and how to tell it.
#[derive(Debug, Clone)]
pub struct Options {
    /// JSON Lines (else lines for people).
    pub json: bool,
    /// With `json`: each row's result.
    pub results: bool,
    /// Only these statuses (after the change); all when empty.
    pub statuses: Vec<WatchStatus>,
    /// How old a heartbeat marks a runner on another host dead.
    pub stale_after: Duration,
    /// For people: the width to cut the table's rows to (a terminal's).
    pub width: Option<usize>,
}

impl Options {
    fn shows(&self, status: WatchStatus) -> bool {
        self.statuses.is_empty() || self.statuses.contains(&status)
    }
}

/// Watch the experiment, writing to `out`, whose descriptor is `output`,
/// until `output`'s reader goes away or a stop signal comes.
pub fn watch(
    store: &mut Store,
    options: &Options,
    out: &mut impl Write,
    output: BorrowedFd,
) -> Result<ExitCode> {
    // Signals are caught before the first read, which may take a while.
    let mut wait = Wait::new(output)?;
    let mut stamp = store.stamp()?;
    // `--json` rows are printed as they are read; what the tracker needs is
    // read whole only once something changes.
    let streamed = match options.json {
        true => snapshot_recovering(store, options.stale_after)?,
        false => None,
    };
    let (mut known, mut cursor) = match streamed {
        Some(snapshot) => {
            list_rows(store, &snapshot, options, out)?;
            let cursor = snapshot.cursor().clone();
            (Known::Listed(Box::new(snapshot)), cursor)
        }
        None => {
            let (experiment, cursor) = read_recovering(store, options.stale_after)?;
            list(store, &experiment, options, out)?;
            (Known::Tracked(Box::new(Tracker::new(experiment))), cursor)
        }
    };
    out.flush()?;
    loop {
        match wait.wait(POLL) {
            Woke::Signal(signal) => return Ok(ExitCode::interrupted(signal)),
            Woke::Closed => return Ok(ExitCode::BrokenPipe),
            Woke::Timeout => {}
        }
        // Taken before the read: what is written meanwhile changes it again.
        let current = store.stamp()?;
        if current == stamp {
            continue;
        }
        stamp = current;
        let changes = {
            let lock = store.lock_shared()?;
            store.changes(&lock, &mut cursor)?
        };
        if matches!(&changes, Changes::Events(events) if events.is_empty()) {
            continue;
        }
        let tracker = known.tracker()?;
        let changes = tracker.apply(changes)?;
        let now = Timestamp::now();
        for change in changes.iter().filter(|change| options.shows(change.after)) {
            match options.json {
                true => json_line(store, tracker, change, options.results, &now, out)?,
                false => writeln!(out, "{}", human_line(change, &now))?,
            }
        }
        out.flush()?;
    }
}

/// What the watcher knows of the configs it listed.
enum Known {
    /// The state it listed, a config at a time: read whole when first needed.
    Listed(Box<Snapshot>),
    Tracked(Box<Tracker>),
}

impl Known {
    fn tracker(&mut self) -> Result<&mut Tracker> {
        if let Known::Listed(snapshot) = self {
            *self = Known::Tracked(Box::new(Tracker::new(snapshot.load()?)));
        }
        match self {
            Known::Tracked(tracker) => Ok(tracker),
            Known::Listed(_) => unreachable!("just loaded"),
        }
    }
}

/// First, `--json`'s rows, a config at a time.
fn list_rows(store: &Store, snapshot: &Snapshot, options: &Options, out: &mut impl Write) -> Result<()> {
    let now = Timestamp::now();
    snapshot.each(|name, entry| {
        if options.shows(WatchStatus::Is(entry.status())) {
            let config = entry.read()?;
            let row = Row::new(store, &snapshot.experiment().defaults, name, &config, &now);
            write_row(out, &row.with_result(store, options.results))?;
        }
        Ok(())
    })
}

/// First, the configs as `exp-status` shows them: `--json`'s rows, or the
/// overview (the table, with `--status`).
fn list(
    store: &Store,
    experiment: &crate::model::Experiment,
    options: &Options,
    out: &mut impl Write,
) -> Result<()> {
    let now = Timestamp::now();
    if options.json {
        for (name, entry) in &experiment.configs {
            if options.shows(WatchStatus::Is(entry.status())) {
                let config = entry.read()?;
                let row = Row::new(store, &experiment.defaults, name, &config, &now);
                write_row(out, &row.with_result(store, options.results))?;
            }
        }
        return Ok(());
    }
    let census = Census::from(experiment.clone());
    let statuses: Vec<Status> = options
        .statuses
        .iter()
        .filter_map(|status| match status {
            WatchStatus::Is(status) => Some(*status),
            WatchStatus::Removed => None,
        })
        .collect();
    let text = match (options.statuses.is_empty(), statuses.is_empty()) {
        (true, _) => overview(store, &census, &now, options.width)?,
        (false, false) => table(&census, &statuses, &now, options.width)?,
        // Only removals asked for: no config is listed.
        (false, true) => String::new(),
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// A change as `--json` tells it.
fn json_line(
    store: &Store,
    tracker: &Tracker,
    change: &Change,
    results: bool,
    now: &Timestamp,
    out: &mut impl Write,
) -> Result<()> {
    let mut row = Row::new(store, &tracker.experiment().defaults, &change.name, &change.config, now);
    if change.after != WatchStatus::Removed {
        if results {
            row.result = Some(result_of_attempt(store, tracker, change).unwrap_or_default());
            let metrics = metrics_of_attempt(store, tracker, change).map(serde_json::Value::Object);
            row.metrics = Some(metrics.unwrap_or_default());
        }
        return write_row(out, &row);
    }
    let mut row = serde_json::to_value(&row).map_err(std::io::Error::from)?;
    row["status"] = WatchStatus::Removed.as_str().into();
    if results {
        row["result"] = serde_json::Value::Null;
        row["metrics"] = serde_json::Value::Null;
    }
    write_row(out, &row)
}

/// The result of the attempt a change ended: `result.json`, unless a later
/// attempt has started since (a line read late, from a journal a fold
/// kept), which moved it to `result.N.json`, or moves it while we look.
fn result_of_attempt(store: &Store, tracker: &Tracker, change: &Change) -> Option<serde_json::Value> {
    let config = &change.config;
    if !matches!(config.status, Status::Done | Status::Failed) {
        return None;
    }
    let files = store.config_files(&change.name);
    let latest = tracker.experiment().configs.get(&change.name).and_then(|entry| entry.read().ok());
    if latest.is_some_and(|latest| latest.attempts > config.attempts) {
        return files.read_result_of(Some(config.attempts));
    }
    files.read_result().or_else(|| files.read_result_of(Some(config.attempts)))
}

/// The last metrics line of the attempt a change is about: in
/// `metrics.jsonl`, or `metrics.N.jsonl` once a later attempt has started.
fn metrics_of_attempt(store: &Store, tracker: &Tracker, change: &Change) -> Option<crate::metrics::Metrics> {
    let config = &change.config;
    if config.status == Status::Todo {
        return None;
    }
    let files = store.config_files(&change.name);
    let latest = tracker.experiment().configs.get(&change.name).and_then(|entry| entry.read().ok());
    let file = match latest.is_some_and(|latest| latest.attempts > config.attempts) {
        true => ConfigFiles::of_attempt(METRICS, config.attempts),
        false => METRICS.to_string(),
    };
    crate::metrics::last_in(&files, &file, true)
}

fn write_row(out: &mut impl Write, row: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, row).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// `19:18:02 NAME BEFORE -> AFTER DETAIL`: the time the change was seen;
/// nothing before the arrow for an added config; the duration of an
/// ended attempt (and why it failed), the number of a later attempt.
fn human_line(change: &Change, now: &Timestamp) -> String {
    let before = change.before.map(|status| format!("{status} ")).unwrap_or_default();
    let (look, detail) = match change.after {
        WatchStatus::Is(status) => (color::of_status(status), detail(status, &change.config, now)),
        WatchStatus::Removed => (color::faint(), String::new()),
    };
    let clock = now.0.format("%H:%M:%S");
    format!("{clock} {} {before}-> {}{detail}", change.name, look.apply_to(change.after))
}

fn detail(status: Status, config: &Config, now: &Timestamp) -> String {
    let took = config.duration(now).map(format_seconds).unwrap_or_default();
    match status {
        Status::Done => format!(" {took}"),
        Status::Failed => format!(" {took} {}", why_failed(config)),
        Status::Running if config.attempts > 1 => format!(" attempt {}", config.attempts),
        Status::Running | Status::Todo => String::new(),
    }
}
