//! What a run tells people (stderr: bars on a terminal, plain lines in logs)
//! and scripts (`--json` events on stdout).
//!
//! `--json` events, one per line: `{"event":"start","name","attempt","worker","time"}`
//! and `{"event":"end","name","attempt","worker","status","exit_code","signal",
//! "error","duration","time"}`; `status` is `done`, `failed` or `interrupted`.

use crate::report::format_seconds;
use crate::report::note;
use crate::run::outcome::Ending;
use crate::time::Timestamp;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use serde_json::json;
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
    lines: bool,
    quiet: bool,
    bars: Option<Bars>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    workers: Vec<Option<ProgressBar>>,
}

/// Counts shown on the overall bar and in the closing line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub done: usize,
    pub failed: usize,
    pub running: usize,
    pub interrupted: usize,
}

impl Feedback {
    pub fn new(progress: Progress, json: bool, quiet: bool, jobs: usize) -> Feedback {
        let terminal = std::io::stderr().is_terminal();
        let bars = match progress {
            Progress::Always if !terminal => {
                Some(Bars::new(ProgressDrawTarget::term_like(Box::new(Stderr)), jobs))
            }
            Progress::Always | Progress::Auto if terminal => {
                Some(Bars::new(ProgressDrawTarget::stderr(), jobs))
            }
            _ => None,
        };
        let lines = progress == Progress::Auto && !terminal && !quiet;
        Feedback { json, lines, quiet, bars }
    }

    /// More configs are known to be left (e.g. added mid-run).
    pub fn set_total(&self, total: usize) {
        if let Some(bars) = &self.bars {
            bars.overall.set_length(total as u64);
        }
    }

    pub fn started(&mut self, name: &str, attempt: u32, worker: usize, tally: Tally) {
        if self.json {
            emit(
                json!({"event": "start", "name": name, "attempt": attempt, "worker": worker, "time": Timestamp::now()}),
            );
        }
        if let Some(bars) = &mut self.bars {
            bars.start(worker, name, attempt);
            bars.update(tally);
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
            Ending::Interrupted => ("interrupted", None, None, None),
        };
        if self.json {
            emit(json!({
                "event": "end", "name": name, "attempt": attempt, "worker": worker, "status": status,
                "exit_code": exit_code, "signal": signal, "error": error, "duration": seconds, "time": Timestamp::now(),
            }));
        }
        let line = match error {
            Some(error) => format!("{status} {name} ({error}, {})", format_seconds(seconds)),
            None => format!("{status} {name} ({})", format_seconds(seconds)),
        };
        if let Some(bars) = &mut self.bars {
            bars.end(worker);
            if status != "done" {
                bars.multi.suspend(|| note(line));
            }
            bars.update(tally);
        } else if self.lines {
            note(line);
        }
    }

    /// A failed config will run again in this run (`--retries`).
    pub fn retrying(&self, name: &str, attempt: u32, of: u32) {
        if self.lines || self.bars.is_some() {
            self.say(&format!("retrying {name}, attempt {attempt}/{of}"));
        }
    }

    /// A message for people that must not be torn by the bars.
    pub fn say(&self, message: &str) {
        match &self.bars {
            Some(bars) => bars.multi.suspend(|| note(message)),
            None => note(message),
        }
    }

    /// Remove the bars and print the closing line (unless `-q`).
    pub fn finish(&mut self, closing: &str) {
        if let Some(bars) = self.bars.take() {
            for bar in bars.workers.into_iter().flatten() {
                bar.finish_and_clear();
            }
            bars.overall.finish_and_clear();
            let _ = bars.multi.clear();
        }
        if !self.quiet {
            note(closing);
        }
    }
}

impl Bars {
    fn new(target: ProgressDrawTarget, jobs: usize) -> Bars {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise}, ETA {eta}]")
                .expect("valid template")
                .progress_chars("=> "),
        );
        overall.enable_steady_tick(Duration::from_millis(200));
        Bars { multi, overall, workers: vec![None; jobs] }
    }

    fn start(&mut self, worker: usize, name: &str, attempt: u32) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {prefix} {spinner} {elapsed:>4} {wide_msg}")
                .expect("valid template"),
        );
        bar.set_prefix(format!("worker {worker:>2}"));
        bar.set_message(if attempt > 1 { format!("{name} (attempt {attempt})") } else { name.to_string() });
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Some(old) = self.workers.get_mut(worker).and_then(Option::take) {
            old.finish_and_clear();
        }
        if let Some(slot) = self.workers.get_mut(worker) {
            *slot = Some(bar);
        }
    }

    fn end(&mut self, worker: usize) {
        if let Some(bar) = self.workers.get_mut(worker).and_then(Option::take) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn update(&self, tally: Tally) {
        self.overall.set_position((tally.done + tally.failed) as u64);
        self.overall
            .set_message(format!("done {} failed {} running {}", tally.done, tally.failed, tally.running));
    }
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
