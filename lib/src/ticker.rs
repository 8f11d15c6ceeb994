//! A progress line on stderr for long waits that are not a run: exp-add of
//! very many rows, exp-summary over a big experiment. Drawn on a terminal
//! only, and only once the wait has lasted [`DELAY`], so a quick call shows
//! nothing; a pipe never gets a byte. It is told of every item but looks at
//! the clock and the bar only every [`STEP`] items, so an item costs a
//! counter increment.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Items between two looks at the clock and the bar.
pub const STEP: u64 = 256;
/// How long a wait lasts before it is shown.
pub const DELAY: Duration = Duration::from_millis(300);

pub struct Ticker {
    /// None off a terminal.
    bar: Option<ProgressBar>,
    total: Option<u64>,
    shown: bool,
    count: u64,
    started: Instant,
}

impl Ticker {
    /// `what` names the items (`rows read`); with a `total`, a bar with an
    /// ETA, else a spinner with a count.
    pub fn new(what: &str, total: Option<u64>) -> Ticker {
        let bar = std::io::stderr().is_terminal().then(|| {
            let (bar, template) = match total {
                Some(total) => (
                    ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden()),
                    "{wide_bar} {human_pos}/{human_len} {msg} [{elapsed}, ETA {eta}]",
                ),
                None => (
                    ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
                    "{spinner} {human_pos} {msg} [{elapsed}]",
                ),
            };
            bar.set_style(
                ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "),
            );
            bar.set_message(what.to_string());
            bar
        });
        Ticker { bar, total, shown: false, count: 0, started: Instant::now() }
    }

    /// One that never shows.
    pub fn off() -> Ticker {
        Ticker { bar: None, total: None, shown: false, count: 0, started: Instant::now() }
    }

    /// One more item.
    pub fn tick(&mut self) {
        self.count += 1;
        if self.count.is_multiple_of(STEP) || Some(self.count) == self.total {
            self.update();
        }
    }

    /// `items`, ticking once per item, and showing the full count when
    /// they run out (what follows may take a while: exp-add saving).
    pub fn count<'a, I: Iterator + 'a>(&'a mut self, mut items: I) -> impl Iterator<Item = I::Item> + 'a {
        std::iter::from_fn(move || match items.next() {
            Some(item) => {
                self.tick();
                Some(item)
            }
            None => {
                self.update();
                None
            }
        })
    }

    fn update(&mut self) {
        let Some(bar) = &self.bar else { return };
        bar.set_position(self.count);
        if !self.shown && self.started.elapsed() >= DELAY {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            // Keeps the line alive through a long step after the last item
            // (exp-add writing the state).
            bar.enable_steady_tick(Duration::from_millis(150));
            self.shown = true;
        }
    }
}

impl Drop for Ticker {
    /// The line goes away before whatever is printed next.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
