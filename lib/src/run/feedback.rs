//! What a run tells people on stderr (bars on a terminal, [`super::bars`];
//! plain lines with a counter and the time in logs, [`super::lines`]) and
//! scripts (`--json` events on stdout). Colour, where there is any, follows
//! [`crate::color`].
//!
//! `--json` events, one per line: `{"event":"start","name","attempt","worker","time"}`
//! and `{"event":"end","name","attempt","worker","status","exit_code","signal",
//! "error","duration","time"}`; `status` is `done`, `failed` or `interrupted`.

use crate::color::{self, Style};
use crate::model::Ending;
use crate::report::format_seconds;
use crate::report::note;
use crate::run::bars::Bars;
use crate::run::lines::Lines;
use crate::run::tally::Tally;
use crate::store::config_files::ConfigFiles;
use crate::time::Timestamp;
use indicatif::TermLike;
use serde_json::json;
use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Auto,
    Always,
    Never,
}

pub struct Feedback {
    json: bool,
    quiet: bool,
    view: View,
    /// Configs known to this run so far: finished, running and queued.
    total: usize,
    /// The last counts told, for messages that come with none.
    last: Cell<Tally>,
    /// Why no config starts though a worker is free, as last told.
    waiting: Option<String>,
}

/// How a run shows itself on stderr.
enum View {
    /// On a terminal (or `--progress always`).
    Bars(Bars),
    /// Off a terminal, for logs.
    Lines(Lines),
    /// `--progress never`, or `-q` off a terminal: messages and the closing line only.
    Silent,
}

impl Feedback {
    /// `status_every`: how often plain lines say what is still running.
    pub fn new(
        progress: Progress,
        json: bool,
        quiet: bool,
        jobs: usize,
        status_every: Option<Duration>,
    ) -> Feedback {
        let terminal = std::io::stderr().is_terminal();
        let view = match progress {
            Progress::Always if !terminal => View::Bars(Bars::new(Box::new(Stderr), || 100, jobs)),
            Progress::Always | Progress::Auto if terminal => {
                View::Bars(Bars::new(Box::new(console::Term::buffered_stderr()), terminal_width, jobs))
            }
            Progress::Auto if !quiet => View::Lines(Lines::new(status_every)),
            _ => View::Silent,
        };
        Feedback { json, quiet, view, total: 0, last: Cell::default(), waiting: None }
    }

    /// How many configs this run knows of (more may be added mid-run).
    pub fn set_total(&mut self, total: usize) {
        self.total = total;
    }

    /// The counter: finished configs and those known, never fewer.
    fn counter(&self, tally: Tally) -> (usize, usize) {
        self.last.set(tally);
        (tally.finished(), self.total.max(tally.finished() + tally.running))
    }

    /// A config started, holding `devices` (`--devices`).
    pub fn started(
        &mut self,
        name: &str,
        attempt: u32,
        worker: usize,
        files: ConfigFiles,
        devices: Option<&str>,
        tally: Tally,
    ) {
        if self.json {
            emit(
                json!({"event": "start", "name": name, "attempt": attempt, "worker": worker, "time": Timestamp::now()}),
            );
        }
        let (finished, total) = self.counter(tally);
        match &mut self.view {
            View::Bars(bars) => {
                bars.start(worker, name, attempt, devices, files);
                bars.update(tally, total);
            }
            View::Lines(lines) => {
                lines.start(worker, name, devices);
                // Which GPU ran what is worth a line in a log.
                if let Some(devices) = devices {
                    lines.say(finished, total, format_args!("started {name} on devices {devices}"));
                }
            }
            View::Silent => {}
        }
    }

    /// Why no config starts though a worker is free (`--devices`,
    /// `--memfree`), or None once one may: on the bars' overall line, in a
    /// plain line when a wait begins.
    pub fn waiting(&mut self, why: Option<&str>) {
        if self.waiting.as_deref() == why {
            return;
        }
        let began = self.waiting.is_none();
        self.waiting = why.map(str::to_string);
        match &mut self.view {
            View::Bars(bars) => bars.waiting(why),
            View::Lines(_) if began => {
                if let Some(why) = why {
                    self.say(why);
                }
            }
            _ => {}
        }
    }

    pub fn ended(
        &mut self,
        name: &str,
        attempt: u32,
        worker: usize,
        ending: &Ending,
        seconds: f64,
        tally: Tally,
    ) {
        let (status, exit_code, signal, error) = match ending {
            Ending::Done => ("done", Some(0), None, None),
            Ending::Failed { exit_code, signal, error } => {
                ("failed", *exit_code, signal.as_deref(), Some(error.as_str()))
            }
            Ending::Interrupted | Ending::NotStarted => ("interrupted", None, None, None),
        };
        if self.json {
            emit(json!({
                "event": "end", "name": name, "attempt": attempt, "worker": worker, "status": status,
                "exit_code": exit_code, "signal": signal, "error": error, "duration": seconds, "time": Timestamp::now(),
            }));
        }
        let look = match ending {
            Ending::Done => color::done(),
            Ending::Failed { .. } => color::failed(),
            Ending::Interrupted | Ending::NotStarted => color::caution(),
        };
        let status = look.for_stderr().apply_to(status);
        let line = match error {
            Some(error) => format!("{status} {name} ({error}, {})", format_seconds(seconds)),
            None => format!("{status} {name} ({})", format_seconds(seconds)),
        };
        let (finished, total) = self.counter(tally);
        match &mut self.view {
            View::Bars(bars) => {
                bars.end(worker);
                if !matches!(ending, Ending::Done) {
                    bars.say(line);
                }
                bars.update(tally, total);
            }
            View::Lines(lines) => {
                lines.end(worker);
                lines.say(finished, total, line);
            }
            View::Silent => {}
        }
    }

    /// A worker is free again without a config's ending to report (another
    /// runner recovered it meanwhile and keeps its record).
    pub fn released(&mut self, worker: usize) {
        match &mut self.view {
            View::Bars(bars) => bars.end(worker),
            View::Lines(lines) => lines.end(worker),
            View::Silent => {}
        }
    }

    /// A failed config will run again in this run (`--retries`).
    pub fn retrying(&self, name: &str, attempt: u32, of: u32, tally: Tally) {
        let line = color::caution().for_stderr().apply_to(format!("retrying {name}, attempt {attempt}/{of}"));
        let (finished, total) = self.counter(tally);
        match &self.view {
            View::Bars(bars) => bars.say(line),
            View::Lines(lines) => lines.say(finished, total, line),
            View::Silent => {}
        }
    }

    /// A message for people: above the bars, or as a plain line with the
    /// counter and the time (a log should say when a signal came).
    pub fn say(&self, message: &str) {
        let (finished, total) = self.counter(self.last.get());
        match &self.view {
            View::Bars(bars) => bars.say(message),
            View::Lines(lines) => lines.say(finished, total, message),
            View::Silent => note(message),
        }
    }

    /// A warning, likewise.
    pub fn warn(&self, message: &str) {
        let warning = format!("{}: {message}", color::caution().for_stderr().apply_to("warning"));
        match &self.view {
            View::Bars(_) | View::Lines(_) => self.say(&warning),
            View::Silent => crate::report::warn(message),
        }
    }

    /// How long until [`Feedback::tick`] has something to do: bars to
    /// refresh, a "still running" line to print. None off a terminal
    /// without `--status-every`, so a run there never wakes for it.
    pub fn due(&self) -> Option<Duration> {
        match &self.view {
            View::Bars(bars) => Some(bars.due()),
            View::Lines(lines) => lines.due(),
            View::Silent => None,
        }
    }

    /// Do what is due: the pool calls this whenever it wakes.
    pub fn tick(&mut self, tally: Tally) {
        let (finished, total) = self.counter(tally);
        match &mut self.view {
            View::Bars(bars) if bars.due().is_zero() => bars.refresh(tally, total),
            View::Lines(lines) => lines.tick(finished, total),
            _ => {}
        }
    }

    /// Remove the bars and print the closing line (unless `-q`), in `look`.
    pub fn finish(&mut self, closing: &str, look: Style) {
        if let View::Bars(bars) = std::mem::replace(&mut self.view, View::Silent) {
            bars.finish();
        }
        if !self.quiet {
            note(look.for_stderr().apply_to(closing));
        }
    }
}

/// Stderr's width in columns (80 if it cannot be told).
fn terminal_width() -> usize {
    console::Term::stderr().size_checked().map_or(80, |(_, columns)| usize::from(columns))
}

fn emit(event: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    // A reader that went away does not stop the run.
    let _ = writeln!(out, "{event}").and_then(|_| out.flush());
}

/// Stderr as a terminal, for `--progress always` when it is not one.
#[derive(Debug)]
struct Stderr;

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.write_str(&format!("\x1b[{n}A"))
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.write_str(&format!("\x1b[{n}B"))
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.write_str(&format!("\x1b[{n}C"))
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.write_str(&format!("\x1b[{n}D"))
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write_str(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().write_all(s.as_bytes())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.write_str("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
