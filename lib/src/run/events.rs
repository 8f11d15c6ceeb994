//! What the pool's loop waits for: signals (SIGCHLD included) and, with
//! `--interactive`, Enter.
//!
//! The loop waits with one `poll` on signal-hook's self-pipe in its own
//! thread, so a command's exit wakes it directly. A forwarding thread in
//! between would cost two more wakeups per config, which on a 2-core VM is
//! most of what separates a pool of trivial commands from `xargs -P`.

use crate::error::{Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use signal_hook::consts::SIGCHLD;
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub enum Event {
    Signal(i32),
    Enter,
}

pub struct Events {
    delivery: SignalDelivery<UnixStream, SignalOnly>,
    arrivals: Arc<Arrivals>,
    /// How many of `arrivals.stops` were handed out already.
    stops_seen: usize,
    enters: Arc<AtomicUsize>,
    waker: Arc<UnixStream>,
}

/// The order in which stop signals and exits came. signal-hook's delivery
/// only says which signals are pending: two Ctrl-C while the loop waits
/// for the lock would be one, and SIGTERM would come before SIGCHLD by
/// number, making configs that ended before the stop look stopped.
/// Written by signal handlers, so atomics only.
struct Arrivals {
    /// Numbers every arrival, exits and stops alike.
    sequence: AtomicU64,
    /// The sequence number of the first exit not yet handed out, or NONE.
    first_exit: AtomicU64,
    /// How many stop signals came (those past STOP_SLOTS are not kept: the
    /// first two decide everything a stop does).
    stop_count: AtomicUsize,
    /// Each stop signal as `sequence << 8 | signal`; 0 until written.
    stops: [AtomicU64; STOP_SLOTS],
}

const STOP_SLOTS: usize = 16;
const NONE: u64 = u64::MAX;

impl Arrivals {
    fn exit_came(&self) {
        let at = self.sequence.fetch_add(1, Ordering::SeqCst);
        let _ = self.first_exit.compare_exchange(NONE, at, Ordering::SeqCst, Ordering::SeqCst);
    }

    fn stop_came(&self, signal: i32) {
        let at = self.sequence.fetch_add(1, Ordering::SeqCst);
        let slot = self.stop_count.fetch_add(1, Ordering::SeqCst);
        if let Some(slot) = self.stops.get(slot) {
            slot.store(at << 8 | (signal as u64 & 0xff), Ordering::SeqCst);
        }
    }
}

impl Events {
    /// Start catching `stops` (the signals that stop a run) and SIGCHLD,
    /// unblocking them first: a runner started with them blocked must
    /// still hear them.
    pub fn watch(stops: &[i32]) -> Result<Events> {
        let fail = |err: std::io::Error| Error::state(format!("cannot handle signals: {err}"));
        let signals: Vec<i32> = stops.iter().copied().chain([SIGCHLD]).collect();
        crate::process::unblock_signals(&signals);
        let arrivals = Arc::new(Arrivals {
            sequence: AtomicU64::new(0),
            first_exit: AtomicU64::new(NONE),
            stop_count: AtomicUsize::new(0),
            stops: std::array::from_fn(|_| AtomicU64::new(0)),
        });
        // Registered before the delivery, so they run before its handler
        // writes the wakeup byte: a woken loop finds the arrival written.
        for &signal in &signals {
            let arrivals = Arc::clone(&arrivals);
            let action = move || match signal {
                SIGCHLD => arrivals.exit_came(),
                stop => arrivals.stop_came(stop),
            };
            // SAFETY: the action only touches atomics, which is
            // async-signal-safe, and allocates nothing.
            unsafe { signal_hook::low_level::register(signal, action) }.map_err(fail)?;
        }
        let (read, write) = UnixStream::pair().map_err(fail)?;
        let waker = write.try_clone().map_err(fail)?;
        // Neither end may ever block: the handler and flush use MSG_DONTWAIT,
        // Enter's thread a full buffer, and the wait is poll's.
        read.set_nonblocking(true).map_err(fail)?;
        waker.set_nonblocking(true).map_err(fail)?;
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, &signals).map_err(fail)?;
        Ok(Events {
            delivery,
            arrivals,
            stops_seen: 0,
            enters: Arc::new(AtomicUsize::new(0)),
            waker: Arc::new(waker),
        })
    }

    /// What another thread calls when Enter is pressed.
    pub fn enter_notifier(&self) -> impl Fn() + Send + 'static {
        let (enters, waker) = (Arc::clone(&self.enters), Arc::clone(&self.waker));
        move || {
            enters.fetch_add(1, Ordering::SeqCst);
            // A full pipe already holds a wakeup.
            let _ = std::io::Write::write(&mut &*waker, b"E");
        }
    }

    /// What has come, without waiting: each stop signal as often as it
    /// came and in order, an exit before a stop signal that came after it.
    pub fn pending(&mut self) -> Vec<Event> {
        // This drains the wakeups; what came is read from the arrivals,
        // which the handlers wrote before waking us.
        self.delivery.pending().for_each(drop);
        let arrivals = &*self.arrivals;
        let mut events = Vec::new();
        let came = arrivals.stop_count.load(Ordering::SeqCst).min(STOP_SLOTS);
        while self.stops_seen < came {
            let stop = arrivals.stops[self.stops_seen].load(Ordering::SeqCst);
            if stop == 0 {
                // Its handler is still writing it (on another thread).
                break;
            }
            self.stops_seen += 1;
            if arrivals.first_exit.load(Ordering::SeqCst) < stop >> 8 {
                arrivals.first_exit.store(NONE, Ordering::SeqCst);
                events.push(Event::Signal(SIGCHLD));
            }
            events.push(Event::Signal((stop & 0xff) as i32));
        }
        if arrivals.first_exit.swap(NONE, Ordering::SeqCst) != NONE {
            events.push(Event::Signal(SIGCHLD));
        }
        events.extend((0..self.enters.swap(0, Ordering::SeqCst)).map(|_| Event::Enter));
        events
    }

    /// What comes within `timeout` (nothing when it passes first).
    pub fn wait(&mut self, timeout: Duration) -> Vec<Event> {
        self.wait_or_input(timeout, None)
    }

    /// [`Events::wait`], also waking when `input` has something to read.
    pub fn wait_or_input(&mut self, timeout: Duration, input: Option<BorrowedFd>) -> Vec<Event> {
        let events = self.pending();
        if !events.is_empty() {
            return events;
        }
        let mut fds = vec![PollFd::new(self.delivery.get_read().as_fd(), PollFlags::POLLIN)];
        fds.extend(input.map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
        // EINTR is a signal come: pending() finds it.
        let _ = poll(&mut fds, poll_timeout(timeout));
        self.pending()
    }
}

/// A timeout for poll, rounded up: waking a little early would only spin.
pub fn poll_timeout(timeout: Duration) -> PollTimeout {
    let millis = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
    PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_hook::consts::{SIGUSR1, SIGUSR2};

    fn signals(events: Vec<Event>) -> Vec<i32> {
        events.into_iter().filter_map(|e| if let Event::Signal(s) = e { Some(s) } else { None }).collect()
    }

    fn wait_for_an_exit(events: &Events) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while events.arrivals.first_exit.load(Ordering::SeqCst) == NONE {
            assert!(std::time::Instant::now() < deadline, "no SIGCHLD came");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// USR1 and USR2 stand for the stop signals. Other tests of this
    /// process may start children too, so stray SIGCHLDs are allowed for.
    #[test]
    fn stop_signals_come_in_order_as_often_as_sent_and_exits_keep_their_place() {
        let mut events = Events::watch(&[SIGUSR1, SIGUSR2]).unwrap();
        // raise() runs the handler before it returns.
        for signal in [SIGUSR2, SIGUSR1, SIGUSR2, SIGUSR2] {
            signal_hook::low_level::raise(signal).unwrap();
        }
        let stops: Vec<i32> = signals(events.pending()).into_iter().filter(|&s| s != SIGCHLD).collect();
        assert_eq!(stops, [SIGUSR2, SIGUSR1, SIGUSR2, SIGUSR2]);

        // An exit before a stop is handed out before it...
        let mut child = std::process::Command::new("true").spawn().unwrap();
        wait_for_an_exit(&events);
        signal_hook::low_level::raise(SIGUSR1).unwrap();
        let got = signals(events.pending());
        let stop = got.iter().position(|&s| s == SIGUSR1).expect("the stop");
        assert!(got[..stop].contains(&SIGCHLD), "{got:?}");
        child.wait().unwrap();

        // ...and one after a stop, after it.
        events.pending();
        signal_hook::low_level::raise(SIGUSR2).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        wait_for_an_exit(&events);
        let got = signals(events.pending());
        let stop = got.iter().position(|&s| s == SIGUSR2).expect("the stop");
        assert!(got[stop..].contains(&SIGCHLD), "{got:?}");
        child.wait().unwrap();
    }
}
