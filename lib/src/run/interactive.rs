//! `exp-run --interactive`: Enter on the terminal lists the running configs
//! and takes a snapshot, as `exp-snapshot` does, without stopping the run.
//!
//! While it listens, the terminal does not echo what is typed, so the
//! progress bars stay intact; the echo comes back when the run ends.

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};
use std::io::{BufRead, IsTerminal};

/// Restores the terminal's echo when dropped.
pub struct Listening {
    saved: Option<Termios>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &saved);
        }
    }
}

/// Listen for Enter on stdin, calling `entered` for each line; None (with
/// nothing started) when stdin is not a terminal.
pub fn listen(entered: impl Fn() + Send + 'static) -> Option<Listening> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    let saved = tcgetattr(&stdin).ok();
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &quiet);
    }
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
            entered();
        }
    });
    Some(Listening { saved })
}

/// What Enter shows: the configs running here (`running`, a line each, as
/// the workers describe them), then the snapshot taken of them.
pub fn running_here(store: &mut crate::store::Store, running: Vec<String>) -> String {
    let mut lines = vec![format!("{} config(s) running here:", running.len())];
    lines.extend(running);
    let options = crate::snapshot::Options { signal: None, wait: std::time::Duration::ZERO };
    match crate::snapshot::take(store, &options) {
        Ok(snapshot) => lines.push(format!("snapshot: {}", snapshot.dir.display())),
        Err(err) => lines.push(format!("no snapshot: {err}")),
    }
    lines.join("\n")
}
