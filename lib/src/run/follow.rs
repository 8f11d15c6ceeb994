//! `exp-run --follow`: a run that, out of work, waits for configs that
//! `exp-add` adds (from any shell or host) and runs them as they come;
//! `--idle-exit DUR` ends it after DUR with nothing running and nothing to
//! run.

use std::time::{Duration, Instant};

/// How often a following runner out of work looks for new configs: a
/// config added on the same host starts within this (and the time to
/// spawn it).
pub const RECHECK: Duration = Duration::from_millis(200);
/// How often it also looks for claims of runners that died meanwhile
/// (a scan of every config: not at every look).
const RECOVER_EVERY: Duration = Duration::from_secs(5);

/// What `--follow` asks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Follow {
    /// `--idle-exit DUR`.
    pub idle_exit: Option<Duration>,
}

/// A following run's state while out of work.
#[derive(Debug)]
pub struct Following {
    follow: Follow,
    /// Since when nothing ran and nothing was left to run.
    idle_since: Option<Instant>,
    /// When dead runners' claims were last looked for.
    recovered_at: Option<Instant>,
    /// Whether this idle time's wait was said.
    said: bool,
}

/// What a following run out of work does now.
#[derive(Debug, PartialEq, Eq)]
pub enum Idle {
    /// Look for dead runners' claims too (now and then).
    Recover,
    /// Wait for configs to come.
    Wait,
    /// `--idle-exit` is over: end the run.
    Exit,
}

impl Following {
    pub fn new(follow: Follow) -> Following {
        Following { follow, idle_since: None, recovered_at: None, said: false }
    }

    /// Work came (or is running): the idle time starts over.
    pub fn busy(&mut self) {
        self.idle_since = None;
        self.said = false;
    }

    /// Out of work at `now`: what to do.
    pub fn idle(&mut self, now: Instant) -> Idle {
        let since = *self.idle_since.get_or_insert(now);
        if self.follow.idle_exit.is_some_and(|limit| now.duration_since(since) >= limit) {
            return Idle::Exit;
        }
        if self.recovered_at.is_none_or(|at| now.duration_since(at) >= RECOVER_EVERY) {
            self.recovered_at = Some(now);
            return Idle::Recover;
        }
        Idle::Wait
    }

    /// What people read when it starts waiting, once each idle time.
    pub fn say_once(&mut self) -> Option<String> {
        if std::mem::replace(&mut self.said, true) {
            return None;
        }
        let until = match self.follow.idle_exit {
            Some(limit) => format!("for {} at most", humantime::format_duration(limit)),
            None => "until stopped".to_string(),
        };
        Some(format!("nothing left to run: waiting for configs that exp-add adds ({until})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_recovers_now_and_then_waits_and_exits_after_the_idle_time() {
        let mut following = Following::new(Follow { idle_exit: Some(Duration::from_secs(10)) });
        let start = Instant::now();
        assert_eq!(following.idle(start), Idle::Recover);
        assert!(following.say_once().is_some() && following.say_once().is_none(), "said once");
        assert_eq!(following.idle(start + Duration::from_secs(1)), Idle::Wait);
        assert_eq!(following.idle(start + Duration::from_secs(6)), Idle::Recover);
        following.busy();
        assert!(following.say_once().is_some(), "said again after work came");
        assert_eq!(following.idle(start + Duration::from_secs(7)), Idle::Wait);
        assert_eq!(following.idle(start + Duration::from_secs(17)), Idle::Exit);
        let mut forever = Following::new(Follow::default());
        assert_ne!(forever.idle(start + Duration::from_secs(1_000_000)), Idle::Exit);
    }
}
