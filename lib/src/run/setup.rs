//! `exp-run --setup CMD`: a command run once before the pool (`sh -c`, in
//! the commands' working directory), whose `KEY=VALUE` stdout lines are
//! added to every config's environment. If it fails, nothing runs (exit 5).
//!
//! The setup is done when its own process exits 0. Its stdout is a file,
//! `DIR/.exp/setup-RUNNER.log`, read once the setup exited: a server it
//! started with `&` holds that file, never a pipe we would wait on. Its
//! stderr passes through to ours while it runs, then into the same file.
//! Processes it leaves behind are the run's services: they carry
//! `EXP_RUNNER`, and [`Services`] stops them (SIGTERM, then SIGKILL after
//! `--kill-after`) when the run ends, however it ends; the watchdog takes
//! them if the runner is killed.

use crate::error::{Error, Result};
use crate::report::note;
use crate::run::events::{poll_timeout, Event, Events};
use crate::run::outcome::signal_name;
use crate::runners::RUNNER_VAR;
use crate::store::config_files::read_regular;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The most of the setup's stdout read for assignments.
const MAX_OUTPUT: u64 = 16 << 20;
/// How often a service being stopped is looked at.
const STOP_PROBE: Duration = Duration::from_millis(20);
/// How often a setup run without signal handling (`--replay`) is looked at.
const NO_EVENTS_PROBE: Duration = Duration::from_millis(50);
/// How long SIGKILLed services are waited for before the run goes on.
const KILLED_WAIT: Duration = Duration::from_secs(2);

/// How a setup ended, when it did not fail.
pub enum Setup {
    /// It succeeded: the variables it gave.
    Env(Vec<(String, String)>),
    /// A stop signal came first: the setup was stopped, nothing will run.
    Stopped(i32),
}

/// The processes a setup leaves running for a run: every process carrying
/// the runner's `EXP_RUNNER` once the commands are gone. Stopped by
/// [`Services::stop`], or when dropped (an error, a panic).
pub struct Services {
    runner: String,
    log: PathBuf,
    kill_after: Duration,
    /// Whether a setup was started, so there may be something to stop.
    started: bool,
}

impl Services {
    /// The services of runner `runner` (its id, as `EXP_RUNNER` carries it),
    /// their output going to `setup-RUNNER.log` in `internal_dir`.
    pub fn new(runner: &str, internal_dir: &Path, kill_after: Duration) -> Services {
        let log = internal_dir.join(format!("setup-{runner}.log"));
        Services { runner: runner.to_string(), log, kill_after, started: false }
    }

    /// Stop them: SIGTERM to each and to its process group, SIGKILL to
    /// what is left after `--kill-after`; those that are our children
    /// (orphans come to a subreaper) are reaped.
    pub fn stop(&mut self) {
        if !std::mem::take(&mut self.started) {
            return;
        }
        let found = crate::process::with_env(RUNNER_VAR, &self.runner);
        if found.is_empty() {
            return;
        }
        signal_all(&found, Signal::SIGTERM);
        let deadline = Instant::now() + self.kill_after;
        while Instant::now() < deadline && found.iter().any(|&(pid, _)| live(pid)) {
            std::thread::sleep(STOP_PROBE);
        }
        // A dying service may have started another: look again.
        let left = crate::process::with_env(RUNNER_VAR, &self.runner);
        if !left.is_empty() {
            note(format!(
                "{} process(es) left by --setup did not stop within {}: killing them",
                left.len(),
                humantime::format_duration(self.kill_after)
            ));
            signal_all(&left, Signal::SIGKILL);
            let deadline = Instant::now() + KILLED_WAIT;
            while Instant::now() < deadline && left.iter().any(|&(pid, _)| live(pid)) {
                std::thread::sleep(STOP_PROBE);
            }
        }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Send `signal` to each process and to its group (never our own).
fn signal_all(processes: &[(u32, u32)], signal: Signal) {
    let own = nix::unistd::getpgrp();
    for &(pid, pgid) in processes {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), signal);
        if Pid::from_raw(pgid as i32) != own && pgid > 1 {
            let _ = killpg(Pid::from_raw(pgid as i32), signal);
        }
    }
}

/// Whether `pid` still runs; a zombie of ours is reaped and counts as gone.
fn live(pid: u32) -> bool {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    if let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
        waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG))
    {
        return false;
    }
    crate::process::alive(pid)
}

/// Run the setup for runner `services`. Its stderr goes to ours as it
/// comes; stdout lines that are not assignments are shown there after it
/// ended. With `events`, a stop signal stops it (SIGTERM to its group,
/// SIGKILL after `kill_after` or at a second signal), rather than leave it
/// running on without us.
pub fn run_setup(
    command: &str,
    workdir: &Path,
    experiment_dir: &Path,
    services: &mut Services,
    events: Option<&mut Events>,
) -> Result<Setup> {
    let log = crate::store::atomic::no_follow()
        .append(true)
        .create(true)
        .truncate(false)
        .open(&services.log)
        .map_err(|err| Error::io("cannot create", &services.log, err))?;
    let log = crate::store::atomic::regular(log, &services.log)?;
    let stdout = log.try_clone().map_err(|err| Error::io("cannot open", &services.log, err))?;
    let (errors, errors_in) =
        std::io::pipe().map_err(|err| Error::setup(format!("--setup: cannot make a pipe: {err}")))?;
    services.started = true;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(workdir)
        .env("EXP_DIR", experiment_dir)
        .env(RUNNER_VAR, &services.runner)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(errors_in)
        // Its own group, so that stopping it reaches what it started.
        .process_group(0)
        .spawn()
        .map_err(|err| Error::setup(format!("--setup: cannot run sh: {err}")))?;
    let mut errors = Relay::new(errors);
    let ended = wait_or_stop(&mut child, events, services.kill_after, &mut errors);
    // All the setup said is in the pipe by now: pass it on. What its
    // services say from now on goes to the log, never to a pipe that could
    // fill up and block them.
    errors.forward();
    errors.into_log(log);
    let (status, stopped) =
        ended.map_err(|err| Error::setup(format!("--setup: cannot wait for sh: {err}")))?;
    if let Some(signal) = stopped {
        return Ok(Setup::Stopped(signal));
    }
    if !status.success() {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by {}", signal_name(signal)),
            _ => "ended abnormally".to_string(),
        };
        return Err(Error::setup(format!("--setup failed ({how}); nothing ran")));
    }
    let output = read_regular(&services.log, MAX_OUTPUT).unwrap_or_default();
    let mut env = Vec::new();
    for line in String::from_utf8_lossy(&output).lines() {
        let line = line.trim_end_matches('\r');
        match assignment(line) {
            Some((key, value)) => env.push((key.to_string(), value.to_string())),
            None if line.trim().is_empty() => {}
            None => note(format!("setup: {line}")),
        }
    }
    Ok(Setup::Env(env))
}

/// The setup's stderr: passed to ours while it runs, by the thread that
/// waits for it (so nothing it said before it exited can be taken for a
/// service's), then into the log by a thread of its own.
struct Relay {
    /// None once every writer has closed it.
    pipe: Option<std::io::PipeReader>,
}

impl Relay {
    fn new(pipe: std::io::PipeReader) -> Relay {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        // Read only what is there: the wait must go on.
        let _ = fcntl(pipe.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        Relay { pipe: Some(pipe) }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.pipe.as_ref().map(|pipe| pipe.as_fd())
    }

    /// Pass what can be read now to our stderr.
    fn forward(&mut self) {
        let Some(pipe) = &mut self.pipe else { return };
        let mut buffer = [0u8; 8192];
        loop {
            match pipe.read(&mut buffer) {
                Ok(0) => break self.pipe = None,
                Ok(n) => {
                    let _ = std::io::stderr().write_all(&buffer[..n]);
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => break self.pipe = None,
            }
        }
    }

    /// From now on, what comes goes into `log`, until every writer is gone.
    fn into_log(self, mut log: File) {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let Some(mut pipe) = self.pipe else { return };
        let _ = fcntl(pipe.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty()));
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut pipe, &mut log);
        });
    }
}

/// Wait for the setup, passing its stderr on, and stopping it at a stop
/// signal (with `events`); the signal, if one came.
fn wait_or_stop(
    child: &mut Child,
    mut events: Option<&mut Events>,
    kill_after: Duration,
    errors: &mut Relay,
) -> std::io::Result<(ExitStatus, Option<i32>)> {
    let group = Pid::from_raw(child.id() as i32);
    let mut stop: Option<(i32, Instant)> = None;
    loop {
        errors.forward();
        if let Some(status) = child.try_wait()? {
            // What is left of its group goes with it.
            if stop.is_some() {
                let _ = killpg(group, Signal::SIGKILL);
            }
            return Ok((status, stop.map(|(signal, _)| signal)));
        }
        let timeout = match stop {
            Some((_, kill_at)) => kill_at.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(1),
        };
        let came = match events.as_deref_mut() {
            Some(events) => events.wait_or_input(timeout, errors.fd()),
            None => {
                // No SIGCHLD to wake us: look again soon.
                let mut fds: Vec<PollFd> =
                    errors.fd().map(|fd| PollFd::new(fd, PollFlags::POLLIN)).into_iter().collect();
                let _ = poll(&mut fds, poll_timeout(timeout.min(NO_EVENTS_PROBE)));
                Vec::new()
            }
        };
        for event in came {
            match (event, stop) {
                (Event::Signal(signal), None) if signal != signal_hook::consts::SIGCHLD => {
                    note(format!("{}: stopping --setup; nothing will run", signal_name(signal)));
                    let _ = killpg(group, Signal::SIGTERM);
                    stop = Some((signal, Instant::now() + kill_after));
                }
                (Event::Signal(signal), Some(_)) if signal != signal_hook::consts::SIGCHLD => {
                    let _ = killpg(group, Signal::SIGKILL);
                }
                _ => {}
            }
        }
        if stop.is_some_and(|(_, kill_at)| Instant::now() >= kill_at) {
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

/// `KEY=VALUE` with KEY a valid environment variable name.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once('=')?;
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_assignments_to_valid_names_count() {
        assert_eq!(assignment("DATA=/tmp/a=b"), Some(("DATA", "/tmp/a=b")));
        assert_eq!(assignment("_X1="), Some(("_X1", "")));
        assert_eq!(assignment("1X=2"), None);
        assert_eq!(assignment("loading data..."), None);
        assert_eq!(assignment("a b=c"), None);
    }
}
