//! Commands die with their runner, even a SIGKILLed one, so a config whose
//! claim is recovered never runs twice at once.
//!
//! A runner starts one small watchdog process (`exp-run` itself, in its
//! internal watchdog mode) and tells it, over a pipe, the process group of
//! every command it starts and reaps. When the pipe closes without a clean
//! goodbye — the runner died, however — the watchdog SIGKILLs every group
//! still listed. Unlike `PR_SET_PDEATHSIG`, this reaches a command's own
//! children too, and it lets the runner start commands with `posix_spawn`
//! rather than `fork`, which keeps the pool as fast as `xargs -P`.
//!
//! Every command also carries `EXP_RUNNER` (its runner's id) in its
//! environment, and so do its children unless they scrub it. On a runner's
//! death the watchdog kills every process carrying it too, looking a few
//! times: that reaches descendants that left the command's process group
//! (`setsid`), and a command started in the instant before the runner could
//! name its group to the watchdog.

use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::report::warn;
use crate::runners::RUNNER_VAR;
use nix::sys::signal::{killpg, signal, SigHandler, Signal};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The argument that starts `exp-run` as a watchdog (followed by the runner's id).
pub const WATCHDOG_ARG: &str = "--internal-watchdog";

/// How many times, and how far apart, a dead runner's processes are looked for.
const SWEEPS: u32 = 5;
const SWEEP_PAUSE: std::time::Duration = std::time::Duration::from_millis(40);

pub struct Watchdog {
    child: Child,
    pipe: Option<ChildStdin>,
    /// The groups the watchdog is told of, to know whether a goodbye is safe.
    watched: HashSet<Pid>,
}

impl Watchdog {
    pub fn start(runner_id: &str) -> Result<Watchdog> {
        let exe =
            std::env::current_exe().map_err(|err| Error::state(format!("cannot find exp-run: {err}")))?;
        let mut child = Command::new(exe)
            .arg(WATCHDOG_ARG)
            .arg(runner_id)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|err| Error::state(format!("cannot start the watchdog: {err}")))?;
        let pipe = child.stdin.take();
        Ok(Watchdog { child, pipe, watched: HashSet::new() })
    }

    /// A command started in process group `pgid`.
    pub fn watch(&mut self, pgid: Pid) {
        self.watched.insert(pgid);
        self.send(&format!("+{pgid}\n"));
    }

    /// The watchdog's own pid (a child of ours, not a command's leftover).
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// The command of group `pgid` was reaped.
    pub fn forget(&mut self, pgid: Pid) {
        self.watched.remove(&pgid);
        self.send(&format!("-{pgid}\n"));
    }

    fn send(&mut self, line: &str) {
        if let Some(pipe) = &mut self.pipe {
            if pipe.write_all(line.as_bytes()).is_err() {
                warn("the watchdog is gone: commands will not be killed if this runner dies");
                self.pipe = None;
            }
        }
    }
}

impl Drop for Watchdog {
    /// Say goodbye (so nothing is killed) only if no watched group is left:
    /// a runner leaving on an error with commands still running takes them along.
    fn drop(&mut self) {
        if self.watched.is_empty() {
            self.send("bye\n");
        }
        drop(self.pipe.take());
        let _ = self.child.wait();
    }
}

/// The watchdog's life: follow the list of groups until the pipe closes,
/// then kill what is left unless the runner said goodbye.
pub fn serve(runner_id: &str) -> ExitCode {
    for stop in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: setting a signal to SIG_IGN installs no handler code.
        unsafe {
            let _ = signal(stop, SigHandler::SigIgn);
        }
    }
    let mut groups = HashSet::new();
    let mut clean = false;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match (line.get(..1), line.get(1..).and_then(|pid| pid.parse::<i32>().ok())) {
            (Some("+"), Some(pid)) => {
                groups.insert(pid);
            }
            (Some("-"), Some(pid)) => {
                groups.remove(&pid);
            }
            _ if line == "bye" => clean = true,
            _ => {}
        }
    }
    if !clean {
        for pid in groups {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        for sweep in 0..SWEEPS {
            if sweep > 0 {
                std::thread::sleep(SWEEP_PAUSE);
            }
            for (pid, pgid) in crate::process::with_env(RUNNER_VAR, runner_id) {
                let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL);
                let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
    }
    ExitCode::Success
}
