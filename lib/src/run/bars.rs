//! The bars of a run on a terminal: one overall line, then a line per busy
//! worker showing its config, how long it has run and its last metrics
//! line (`step=3 loss=0.41`, see [`crate::metrics`]), else the last line its
//! command printed.
//!
//! The overall line reads `=====>---- 9/30 finished (6 done, 3 failed),
//! 4 running, ETA 3m12s [00:01:05]`: the ETA appears once a config has
//! finished (the mean time per finished config so far, times those left),
//! and on a narrow terminal the elapsed time goes first, then the bar. Every
//! line is laid out here to fit the terminal's width (indicatif only prints
//! it), so colour and long names never make it wrap. The pool calls
//! [`Bars::refresh`] every [`REFRESH`] to read the commands' logs anew.
//!
//! A terminal can go away under the bars (a closed window, a dropped ssh
//! connection) and fail every write from then on. indicatif's
//! `MultiProgress::suspend` panics on such a failure, so it is never used;
//! the bars go quiet at the first failed write and messages become plain
//! lines, whose failures are ignored: the run goes on and records its state.

use crate::color::{self, Style};
use crate::metrics::LastLine;
use crate::report::{format_seconds, note, program};
use crate::run::tally::Tally;
use crate::store::config_files::ConfigFiles;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use std::fmt::Display;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the worker lines read their commands' logs again.
pub const REFRESH: Duration = Duration::from_millis(250);
/// How soon after a config starts or ends every line is drawn again:
/// indicatif drops draws that come too close together (20 a second), and
/// a dropped one would leave the counts stale until the next refresh.
const SETTLE: Duration = Duration::from_millis(60);
/// The narrowest bar worth drawing, and the widest.
const BAR_MIN: usize = 10;
const BAR_MAX: usize = 40;
/// Columns before a worker line's message: two spaces, the spinner, a space.
const WORKER_INDENT: usize = 4;
/// The most draws a second, as indicatif's own stderr target allows.
const DRAWS_PER_SECOND: u8 = 20;

pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    workers: Vec<Option<Worker>>,
    /// The terminal's width in columns, asked at every refresh (it may change).
    width: fn() -> usize,
    started: Instant,
    next_refresh: Instant,
    /// Why no config starts though a worker is free (devices, memory).
    waiting: Option<String>,
}

/// A busy worker's line.
struct Worker {
    bar: ProgressBar,
    name: String,
    attempt: u32,
    /// Its device tokens (`--devices`).
    devices: Option<String>,
    files: ConfigFiles,
    started: Instant,
    metrics: LastLine,
}

impl Bars {
    /// Bars drawn on `term`, `width()` columns wide, for `jobs` workers.
    pub fn new(term: Box<dyn TermLike>, width: fn() -> usize, jobs: usize) -> Bars {
        let term = MuteOnError { term, muted: AtomicBool::new(false) };
        let target = ProgressDrawTarget::term_like_with_hz(Box::new(term), DRAWS_PER_SECOND);
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
        let now = Instant::now();
        Bars {
            multi,
            overall,
            workers: (0..jobs).map(|_| None).collect(),
            width,
            started: now,
            next_refresh: now,
            waiting: None,
        }
    }

    /// Print a message above the bars, without tearing them; a plain line
    /// once the bars cannot be drawn.
    pub fn say(&self, message: impl Display) {
        if self.multi.println(format!("{}: {message}", program())).is_err() {
            note(message);
        }
    }

    pub fn start(
        &mut self,
        worker: usize,
        name: &str,
        attempt: u32,
        devices: Option<&str>,
        files: ConfigFiles,
    ) {
        self.end(worker);
        // Lines in worker order, under the overall one, however they come and go.
        let above = 1 + self.workers.iter().take(worker).flatten().count();
        let bar = self.multi.insert(above, ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("  {spinner} {msg}").expect("valid template"));
        let mut line = Worker {
            bar,
            name: name.to_string(),
            attempt,
            devices: devices.map(str::to_string),
            files,
            started: Instant::now(),
            metrics: LastLine::default(),
        };
        line.show(worker, self.workers.len(), (self.width)());
        if let Some(slot) = self.workers.get_mut(worker) {
            *slot = Some(line);
        }
    }

    pub fn end(&mut self, worker: usize) {
        if let Some(line) = self.workers.get_mut(worker).and_then(Option::take) {
            line.bar.finish_and_clear();
            self.multi.remove(&line.bar);
        }
    }

    /// Redraw the overall line with new counts, and soon again.
    pub fn update(&mut self, tally: Tally, total: usize) {
        self.draw_overall(tally, total);
        self.next_refresh = self.next_refresh.min(Instant::now() + SETTLE);
    }

    fn draw_overall(&self, tally: Tally, total: usize) {
        let width = (self.width)();
        let waiting = self.waiting.as_deref();
        self.overall.set_message(overall_line(width, tally, total, waiting, self.started.elapsed()));
    }

    /// Say on the overall line why no config starts (None: it no longer waits).
    pub fn waiting(&mut self, why: Option<&str>) {
        self.waiting = why.map(str::to_string);
        self.next_refresh = self.next_refresh.min(Instant::now() + SETTLE);
    }

    /// Time until the next refresh is due.
    pub fn due(&self) -> Duration {
        self.next_refresh.saturating_duration_since(Instant::now())
    }

    /// Every line anew: elapsed times, the ETA, each command's last line.
    pub fn refresh(&mut self, tally: Tally, total: usize) {
        self.next_refresh = Instant::now() + REFRESH;
        self.draw_overall(tally, total);
        let width = (self.width)();
        let jobs = self.workers.len();
        for (worker, line) in self.workers.iter_mut().enumerate() {
            if let Some(line) = line {
                line.show(worker, jobs, width);
            }
        }
    }

    pub fn finish(self) {
        for line in self.workers.into_iter().flatten() {
            line.bar.finish_and_clear();
        }
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// The bars' terminal, muted for good by its first failed write: a
/// terminal that hung up fails every write (EIO), and what indicatif would
/// keep writing to it would only pile up in its buffer.
#[derive(Debug)]
struct MuteOnError {
    term: Box<dyn TermLike>,
    muted: AtomicBool,
}

impl MuteOnError {
    fn write(&self, op: impl FnOnce(&dyn TermLike) -> io::Result<()>) -> io::Result<()> {
        if self.muted.load(Ordering::Relaxed) {
            return Err(io::Error::other("an earlier write to the terminal failed"));
        }
        op(&*self.term).inspect_err(|_| self.muted.store(true, Ordering::Relaxed))
    }
}

impl TermLike for MuteOnError {
    fn width(&self) -> u16 {
        self.term.width()
    }
    fn height(&self) -> u16 {
        self.term.height()
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.write(|term| term.move_cursor_up(n))
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.write(|term| term.move_cursor_down(n))
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.write(|term| term.move_cursor_right(n))
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.write(|term| term.move_cursor_left(n))
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write(|term| term.write_line(s))
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.write(|term| term.write_str(s))
    }
    fn clear_line(&self) -> io::Result<()> {
        self.write(|term| term.clear_line())
    }
    fn flush(&self) -> io::Result<()> {
        self.write(|term| term.flush())
    }
}

impl Worker {
    fn show(&mut self, worker: usize, jobs: usize, width: usize) {
        let last = match self.metrics.get(&self.files) {
            Some(metrics) => Some(metrics.to_string()),
            None => self.files.last_output_line(),
        };
        let budget = width.saturating_sub(WORKER_INDENT + 1);
        let elapsed = self.started.elapsed().as_secs_f64();
        let config = Config { name: &self.name, attempt: self.attempt, devices: self.devices.as_deref() };
        self.bar.set_message(worker_line(budget, worker, jobs, &config, elapsed, last.as_deref()));
        self.bar.tick();
    }
}

/// What a worker line names: the config, its attempt, its devices.
struct Config<'a> {
    name: &'a str,
    attempt: u32,
    devices: Option<&'a str>,
}

/// A worker's message, at most `budget` columns: `worker 2   1m05s  NAME
/// (attempt 2) on devices 0,1  LAST LINE`, the last line cut first, then
/// the name.
fn worker_line(
    budget: usize,
    worker: usize,
    jobs: usize,
    config: &Config,
    seconds: f64,
    last: Option<&str>,
) -> String {
    let digits = jobs.saturating_sub(1).to_string().len();
    let head = format!("worker {worker:>digits$} {:>6}  ", format_seconds(seconds));
    let Config { name, attempt, devices } = *config;
    let mut config = if attempt > 1 { format!("{name} (attempt {attempt})") } else { name.to_string() };
    if let Some(devices) = devices {
        config.push_str(&format!(" on devices {devices}"));
    }
    let mut line = fit(&format!("{head}{config}"), budget);
    let room = budget.saturating_sub(console::measure_text_width(&line) + 2);
    if let Some(last) = last.filter(|_| room >= 4) {
        let last = fit(last, room);
        line = format!("{line}  {}", color::faint().for_stderr().apply_to(last));
    }
    line
}

/// The overall line, at most `width - 1` columns (the last column is left
/// free: writing in it makes some terminals wrap); after the counts, why
/// no config starts, if it `waiting`.
fn overall_line(
    width: usize,
    tally: Tally,
    total: usize,
    waiting: Option<&str>,
    elapsed: Duration,
) -> String {
    let budget = width.saturating_sub(1);
    let finished = tally.done + tally.failed;
    let total = total.max(finished + tally.running);
    let waiting = waiting.map(|why| format!(", {why}")).unwrap_or_default();
    let plain_counts = format!(
        "{finished}/{total} finished ({} done, {} failed), {} running{waiting}",
        tally.done, tally.failed, tally.running
    );
    let counts = format!(
        "{finished}/{total} finished ({} done, {} failed), {} running{}",
        color::done().for_stderr().apply_to(tally.done),
        when(tally.failed > 0, color::failed()).apply_to(tally.failed),
        when(tally.running > 0, color::running()).apply_to(tally.running),
        when(!waiting.is_empty(), color::caution()).apply_to(&waiting),
    );
    let eta = match finished {
        0 => String::new(),
        _ if total <= finished => String::new(),
        _ => {
            let left = elapsed.as_secs_f64() / finished as f64 * (total - finished) as f64;
            format!(", ETA {}", whole(left))
        }
    };
    let secs = elapsed.as_secs();
    let clock = format!(" [{:02}:{:02}:{:02}]", secs / 3600, secs / 60 % 60, secs % 60);
    let fraction = if total == 0 { 0.0 } else { finished as f64 / total as f64 };
    for tail in [format!("{eta}{clock}"), eta.clone()] {
        let text = plain_counts.len() + tail.len();
        let room = budget.saturating_sub(text + 1);
        if room >= BAR_MIN {
            return format!("{} {counts}{tail}", bar(fraction, room.min(BAR_MAX)));
        }
    }
    if plain_counts.len() + eta.len() <= budget {
        return format!("{counts}{eta}");
    }
    fit(&format!("{plain_counts}{eta}"), budget)
}

/// `=======>------`, `width` columns.
fn bar(fraction: f64, width: usize) -> String {
    let filled = ((fraction.clamp(0.0, 1.0) * width as f64) as usize).min(width);
    let head = usize::from(filled < width && filled > 0);
    let done = "=".repeat(filled.saturating_sub(head)) + if head == 1 { ">" } else { "" };
    let left = "-".repeat(width - filled);
    let paint = |style: Style, part: String| match part.is_empty() {
        true => part,
        false => style.for_stderr().apply_to(part).to_string(),
    };
    paint(Style::new().cyan(), done) + &paint(color::faint(), left)
}

/// A style for stderr when `cond` holds, else none.
fn when(cond: bool, style: Style) -> Style {
    if cond {
        style.for_stderr()
    } else {
        Style::new().for_stderr()
    }
}

/// `text` cut to `width` columns, with an ellipsis where it was cut.
fn fit(text: &str, width: usize) -> String {
    match width {
        0 => String::new(),
        _ => console::truncate_str(text, width, "…").into_owned(),
    }
}

/// `45s`, `3m12s`, `2h03m`: a duration to the second.
fn whole(seconds: f64) -> String {
    let whole = seconds.max(0.0).round() as u64;
    match whole {
        0..60 => format!("{whole}s"),
        _ => format_seconds(whole as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(done: usize, failed: usize, running: usize) -> Tally {
        Tally { done, failed, running, interrupted: 0 }
    }

    fn plain(text: String) -> String {
        console::strip_ansi_codes(&text).into_owned()
    }

    #[test]
    fn the_overall_line_says_what_its_numbers_are_and_fits() {
        let minute = Duration::from_secs(65);
        let line = plain(overall_line(100, tally(6, 3, 4), 30, None, minute));
        assert!(
            line.ends_with(" 9/30 finished (6 done, 3 failed), 4 running, ETA 2m32s [00:01:05]"),
            "{line}"
        );
        let start = plain(overall_line(100, tally(0, 0, 4), 30, None, minute));
        assert!(!start.contains("ETA"), "no ETA before anything finished: {start}");
        let narrow = plain(overall_line(70, tally(6, 3, 4), 30, None, minute));
        assert!(narrow.starts_with("=="), "a bar still: {narrow}");
        assert!(narrow.ends_with("finished (6 done, 3 failed), 4 running, ETA 2m32s"), "{narrow}");
        for width in 0..200 {
            for t in [tally(0, 0, 1), tally(6, 3, 4), tally(99_000, 1_000, 64)] {
                // Coloured or not (the switch is global, and shared with other tests).
                for colors in [false, true] {
                    console::set_colors_enabled_stderr(colors);
                    for waiting in [None, Some("waiting for 4G free memory (2.1G available)")] {
                        let line = overall_line(width, t, 1_000_000, waiting, minute);
                        assert!(console::measure_text_width(&line) < width.max(1), "{width}: {line:?}");
                    }
                }
            }
        }
        console::set_colors_enabled_stderr(false);
    }

    /// A terminal that hung up: every write fails with EIO. It counts them.
    #[derive(Debug)]
    struct HungUp(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl HungUp {
        fn fail(&self) -> io::Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(io::Error::from_raw_os_error(nix::libc::EIO))
        }
    }

    impl TermLike for HungUp {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            self.fail()
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            self.fail()
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            self.fail()
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            self.fail()
        }
        fn write_line(&self, _: &str) -> io::Result<()> {
            self.fail()
        }
        fn write_str(&self, _: &str) -> io::Result<()> {
            self.fail()
        }
        fn clear_line(&self) -> io::Result<()> {
            self.fail()
        }
        fn flush(&self) -> io::Result<()> {
            self.fail()
        }
    }

    #[test]
    fn bars_on_a_terminal_that_hung_up_panic_nowhere_and_stop_writing() {
        let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut bars = Bars::new(Box::new(HungUp(writes.clone())), || 80, 2);
        let files = ConfigFiles::new(std::path::Path::new("/nonexistent"), "lr0.1");
        bars.start(0, "lr0.1", 1, None, files.clone());
        bars.update(tally(0, 0, 1), 3);
        bars.say("SIGHUP: stopping");
        bars.refresh(tally(0, 0, 1), 3);
        bars.end(0);
        bars.say("interrupted lr0.1");
        bars.start(1, "lr0.2", 2, Some("0,1"), files);
        bars.refresh(tally(0, 1, 1), 3);
        bars.finish();
        assert_eq!(writes.load(Ordering::SeqCst), 1, "the first failed write mutes the terminal");
    }

    #[test]
    fn a_worker_line_cuts_the_commands_line_first_then_the_name() {
        let config = |name, attempt, devices| Config { name, attempt, devices };
        let line = plain(worker_line(60, 2, 4, &config("lr0.1", 2, None), 65.0, Some("step 3/10 loss=0.31")));
        assert_eq!(line, "worker 2  1m05s  lr0.1 (attempt 2)  step 3/10 loss=0.31");
        let line = plain(worker_line(80, 2, 4, &config("lr0.1", 1, Some("2,3")), 65.0, Some("step 3")));
        assert_eq!(line, "worker 2  1m05s  lr0.1 on devices 2,3  step 3");
        let long = "x".repeat(200);
        let cut = plain(worker_line(40, 2, 12, &config("lr0.1", 1, None), 1.5, Some(&long)));
        assert_eq!(console::measure_text_width(&cut), 40, "{cut}");
        assert!(cut.starts_with("worker  2   1.5s  lr0.1  xxx") && cut.ends_with('…'), "{cut}");
        let cut = plain(worker_line(20, 2, 4, &config(&long, 1, None), 1.5, Some("step")));
        assert!(console::measure_text_width(&cut) <= 20 && !cut.contains("step"), "{cut}");
    }
}
