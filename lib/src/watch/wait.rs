//! What a watch waits for between two looks: a stop signal, or the reader
//! of its output gone (`| head -1`), noticed at once rather than at the
//! next write, which may never come while nothing changes.
//!
//! As exp-run's loop does, it waits in one `poll`: on signal-hook's
//! self-pipe, and on the output's descriptor for nothing but its errors
//! (a pipe whose reader closed it reports POLLERR, a hung-up terminal
//! POLLHUP; a file or /dev/null never wakes it).

use crate::error::{Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The signals that end a watch (with 128+N), as they stop exp-run.
const STOPS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Why a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Woke {
    /// Stop signal N came.
    Signal(i32),
    /// The output's reader is gone.
    Closed,
    /// Time for the next look.
    Timeout,
}

pub struct Wait<'a> {
    delivery: SignalDelivery<UnixStream, SignalOnly>,
    output: BorrowedFd<'a>,
}

impl<'a> Wait<'a> {
    /// Catch the stop signals from now on (unblocked first: a watch started
    /// with them blocked must still hear them), and watch `output`.
    pub fn new(output: BorrowedFd<'a>) -> Result<Wait<'a>> {
        let fail = |err: std::io::Error| Error::state(format!("cannot handle signals: {err}"));
        crate::process::unblock_signals(&STOPS);
        let (read, write) = UnixStream::pair().map_err(fail)?;
        read.set_nonblocking(true).map_err(fail)?;
        write.set_nonblocking(true).map_err(fail)?;
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, STOPS).map_err(fail)?;
        Ok(Wait { delivery, output })
    }

    /// Wait at most `timeout` for a stop signal or the output's reader to go.
    pub fn wait(&mut self, timeout: Duration) -> Woke {
        if let Some(signal) = self.delivery.pending().next() {
            return Woke::Signal(signal);
        }
        let mut fds = [
            PollFd::new(self.delivery.get_read().as_fd(), PollFlags::POLLIN),
            PollFd::new(self.output, PollFlags::empty()),
        ];
        // EINTR is a signal come: pending() finds it.
        let _ = poll(&mut fds, PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX));
        let gone = PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
        let closed = fds[1].revents().is_some_and(|events| events.intersects(gone));
        if let Some(signal) = self.delivery.pending().next() {
            return Woke::Signal(signal);
        }
        match closed {
            true => Woke::Closed,
            false => Woke::Timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_wakes_it_without_a_write_and_an_open_one_does_not() {
        let (read, write) = std::io::pipe().unwrap();
        let mut wait = Wait::new(write.as_fd()).unwrap();
        assert_eq!(wait.wait(Duration::from_millis(10)), Woke::Timeout);
        drop(read);
        assert_eq!(wait.wait(Duration::from_secs(30)), Woke::Closed);
    }
}
