//! A run's plain lines, for logs (Slurm, cron, `2> run.log`): no bars, no
//! cursor movement, one line per event.
//!
//! Every line starts with a counter and the local time of day, `HH:MM:SS`:
//! `exp-run: [12/30] 14:02:07 done lr0.1 (3.2s)`, where 12 configs have
//! finished (done or failed) in this run out of the 30 known so far (those
//! finished, running and queued; it grows when configs are added mid-run).
//! With `--status-every DUR`, a line every DUR names what is still running,
//! the longest first: `exp-run: [12/30] 14:07:00 still running: lr0.3
//! (5m02s), lr0.5 (1m10s)`, so a log is never silent for the length of a
//! long config.

use crate::report::{first_few, format_seconds, note};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The most configs a "still running" line names.
const LISTED: usize = 5;

pub struct Lines {
    /// Running configs by worker: name and start.
    running: BTreeMap<usize, (String, Instant)>,
    every: Option<Duration>,
    next_status: Option<Instant>,
}

impl Lines {
    pub fn new(status_every: Option<Duration>) -> Lines {
        Lines {
            running: BTreeMap::new(),
            every: status_every,
            next_status: status_every.map(|every| Instant::now() + every),
        }
    }

    /// One line, after the counter and the time.
    pub fn say(&self, finished: usize, total: usize, text: impl std::fmt::Display) {
        let time = chrono::Local::now().format("%H:%M:%S");
        note(format_args!("[{finished}/{total}] {time} {text}"));
    }

    pub fn start(&mut self, worker: usize, name: &str) {
        self.running.insert(worker, (name.to_string(), Instant::now()));
    }

    pub fn end(&mut self, worker: usize) {
        self.running.remove(&worker);
    }

    /// Time until the next "still running" line, if any is wanted.
    pub fn due(&self) -> Option<Duration> {
        self.next_status.map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Say what is still running, if that is due.
    pub fn tick(&mut self, finished: usize, total: usize) {
        let (Some(every), Some(at)) = (self.every, self.next_status) else { return };
        let now = Instant::now();
        if now < at {
            return;
        }
        // From now, not from `at`: a runner that was suspended does not
        // catch up with a burst of lines.
        self.next_status = Some(now + every);
        if self.running.is_empty() {
            return;
        }
        let mut running: Vec<&(String, Instant)> = self.running.values().collect();
        running.sort_by_key(|(_, started)| *started);
        let listed = first_few(
            running.iter().map(|(name, started)| {
                format!("{name} ({})", format_seconds(started.elapsed().as_secs_f64()))
            }),
            LISTED,
        );
        self.say(finished, total, format_args!("still running: {listed}"));
    }
}
