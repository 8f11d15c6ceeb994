//! What the pool's loop waits for: signals (SIGCHLD included) and, with
//! `--interactive`, Enter.
//!
//! The loop waits with one `poll` on signal-hook's self-pipe in its own
//! thread, so a command's exit wakes it directly. A forwarding thread in
//! between would cost two more wakeups per config, which on a 2-core VM is
//! most of what separates a pool of trivial commands from `xargs -P`.

use crate::error::{Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub enum Event {
    Signal(i32),
    Enter,
}

pub struct Events {
    delivery: SignalDelivery<UnixStream, SignalOnly>,
    enters: Arc<AtomicUsize>,
    waker: Arc<UnixStream>,
}

impl Events {
    /// Start catching `signals`, unblocking them first: a runner started
    /// with them blocked must still hear them.
    pub fn watch(signals: &[i32]) -> Result<Events> {
        let fail = |err: std::io::Error| Error::state(format!("cannot handle signals: {err}"));
        crate::process::unblock_signals(signals);
        let (read, write) = UnixStream::pair().map_err(fail)?;
        let waker = write.try_clone().map_err(fail)?;
        // Neither end may ever block: the handler and flush use MSG_DONTWAIT,
        // Enter's thread a full buffer, and the wait is poll's.
        read.set_nonblocking(true).map_err(fail)?;
        waker.set_nonblocking(true).map_err(fail)?;
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, signals).map_err(fail)?;
        Ok(Events { delivery, enters: Arc::new(AtomicUsize::new(0)), waker: Arc::new(waker) })
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

    /// What has come, without waiting.
    pub fn pending(&mut self) -> Vec<Event> {
        let mut events: Vec<Event> = self.delivery.pending().map(Event::Signal).collect();
        events.extend((0..self.enters.swap(0, Ordering::SeqCst)).map(|_| Event::Enter));
        events
    }

    /// What comes within `timeout` (nothing when it passes first).
    pub fn wait(&mut self, timeout: Duration) -> Vec<Event> {
        let events = self.pending();
        if !events.is_empty() {
            return events;
        }
        // Rounded up: waking a little early would only spin.
        let millis = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.delivery.get_read().as_fd(), PollFlags::POLLIN)];
        // EINTR is a signal come: pending() finds it.
        let _ = poll(&mut fds, timeout);
        self.pending()
    }
}
