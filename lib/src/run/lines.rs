//! A run's plain lines, for logs (Slurm, cron, `2> run.log`): no bars, no
//! cursor movement, one line per event.
//!
//! Every line starts with a counter and the local time of day, `HH:MM:SS`:
//! `exp-run: [12/30] 14:02:07 done lr0.1 (3.2s)`, where 12 configs have
//! finished (done or failed) in this run out of the 30 known so far (those
//! finished, running and queued; it grows when configs are added mid-run).
//! Once a config has finished, the time is followed by this runner's rate
//! (configs finished per minute since it started) and an ETA (the configs
//! left of those known, at that rate): `exp-run: [20/60] 19:18:00 1.9/min
//! ETA 21m done lr0.1 (3.2s)`.
//! With `--status-every DUR`, a line every DUR names what is still running,
//! the longest first: `exp-run: [12/30] 14:07:00 still running: lr0.3
//! (5m02s), lr0.5 (1m10s)`, so a log is never silent for the length of a
//! long config. With `--devices`, each start is a line too, `started lr0.1
//! on devices 0,1`, and a running config is named with its devices.

use crate::report::{first_few, format_seconds, note};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// The most configs a "still running" line names.
const LISTED: usize = 5;

pub struct Lines {
    /// Running configs by worker: name (with its devices) and start.
    running: BTreeMap<usize, (String, Instant)>,
    every: Option<Duration>,
    next_status: Option<Instant>,
    started: Instant,
}

impl Lines {
    pub fn new(status_every: Option<Duration>) -> Lines {
        Lines {
            running: BTreeMap::new(),
            every: status_every,
            next_status: status_every.map(|every| Instant::now() + every),
            started: Instant::now(),
        }
    }

    /// One line, after the counter and the time.
    pub fn say(&self, finished: usize, total: usize, text: impl std::fmt::Display) {
        let time = chrono::Local::now().format("%H:%M:%S");
        let pace = pace(finished, total, self.started.elapsed());
        note(format_args!("[{finished}/{total}] {time} {pace}{text}"));
    }

    pub fn start(&mut self, worker: usize, name: &str, devices: Option<&str>) {
        let shown = match devices {
            Some(devices) => format!("{name} on devices {devices}"),
            None => name.to_string(),
        };
        self.running.insert(worker, (shown, Instant::now()));
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

/// `1.9/min ETA 21m ` (with its space): `finished` configs in `elapsed`,
/// and the time the rest of `total` take at that rate; nothing before the
/// first, no ETA once none is left.
fn pace(finished: usize, total: usize, elapsed: Duration) -> String {
    let minutes = elapsed.as_secs_f64() / 60.0;
    if finished == 0 || minutes <= 0.0 {
        return String::new();
    }
    let rate = finished as f64 / minutes;
    let mut pace = format!("{}/min ", per_minute(rate));
    if total > finished {
        let _ = write!(pace, "ETA {} ", eta((total - finished) as f64 / rate * 60.0));
    }
    pace
}

/// A rate with two significant digits or more: `12`, `1.9`, `0.25`, `0.0031`.
fn per_minute(rate: f64) -> String {
    if rate >= 9.95 {
        return format!("{rate:.0}");
    }
    let decimals = match rate {
        r if r >= 0.995 => 1,
        r if r > 0.0 => (1 - r.log10().floor() as i32).clamp(1, 6) as usize,
        _ => 1,
    };
    format!("{rate:.decimals$}")
}

/// `45s`, `21m`, `3h05m`, `2d04h`: a time left, no finer than people plan.
fn eta(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", (s + 30) / 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_is_a_rate_per_minute_then_the_time_left() {
        let minutes = |m: f64| Duration::from_secs_f64(m * 60.0);
        assert_eq!(pace(0, 60, minutes(3.0)), "");
        assert_eq!(pace(20, 60, minutes(10.5)), "1.9/min ETA 21m ");
        assert_eq!(pace(60, 60, minutes(10.5)), "5.7/min ");
        assert_eq!(pace(1, 3, Duration::from_secs(2)), "30/min ETA 4s ");
        assert_eq!(pace(1, 20, minutes(240.0)), "0.0042/min ETA 3d04h ");
        assert_eq!(pace(3, 10, minutes(60.0)), "0.050/min ETA 2h20m ");
        assert_eq!(pace(4, 10, minutes(1.0)), "4.0/min ETA 2m ");
        assert_eq!(eta(44.6), "45s");
        assert_eq!(eta(59.6), "1m");
        assert_eq!(eta(3.0 * 3600.0 + 5.0 * 60.0), "3h05m");
    }
}
