//! Launching on hold after a resource error (EMFILE, EAGAIN, ENOMEM...):
//! longer each time in a row, said once a run.

use std::time::{Duration, Instant};

/// The first and the longest wait before starting again.
const FIRST: Duration = Duration::from_millis(100);
pub const MAX: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct Backoff {
    /// Until when, and how long the last wait was.
    hold: Option<(Instant, Duration)>,
    /// Whether a back-off was said (once a run).
    said: bool,
}

impl Backoff {
    /// A start failed for want of a resource: hold launching for a while.
    /// Whether this is the first time in the run (to be said).
    pub fn hit(&mut self) -> bool {
        let delay = self.hold.map_or(FIRST, |(_, delay)| (delay * 2).min(MAX));
        self.hold = Some((Instant::now() + delay, delay));
        !std::mem::replace(&mut self.said, true)
    }

    /// A start went well: the next back-off starts short again.
    pub fn clear(&mut self) {
        self.hold = None;
    }

    /// How long launching is still on hold, if it is.
    pub fn remaining(&self) -> Option<Duration> {
        let (until, _) = self.hold?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    pub fn active(&self) -> bool {
        self.remaining().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hit_in_a_row_waits_longer_up_to_the_most_and_is_said_once() {
        let mut backoff = Backoff::default();
        assert!(!backoff.active());
        assert!(backoff.hit(), "said the first time");
        assert!(backoff.active() && backoff.remaining().unwrap() <= FIRST);
        assert!(!backoff.hit(), "and only then");
        assert!(backoff.remaining().unwrap() > FIRST);
        for _ in 0..10 {
            backoff.hit();
        }
        assert!(backoff.remaining().unwrap() <= MAX);
        backoff.clear();
        assert!(!backoff.active());
    }
}
