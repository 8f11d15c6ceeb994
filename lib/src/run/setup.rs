//! `exp-run --setup CMD`: a command run once before the pool (`sh -c`, in
//! the commands' working directory), whose `KEY=VALUE` stdout lines are
//! added to every config's environment. If it fails, nothing runs (exit 5).

use crate::error::{Error, Result};
use crate::report::note;
use crate::run::events::{Event, Events};
use crate::run::outcome::signal_name;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How a setup ended, when it did not fail.
pub enum Setup {
    /// It succeeded: the variables it gave.
    Env(Vec<(String, String)>),
    /// A stop signal came first: the setup was stopped, nothing will run.
    Stopped(i32),
}

/// Run the setup; its stderr goes to ours as it comes, and stdout lines
/// that are not assignments are shown there too. With `events`, a stop
/// signal stops it (SIGTERM to its group, SIGKILL after `kill_after` or at
/// a second signal), rather than leave it running on without us.
pub fn run_setup(
    command: &str,
    workdir: &Path,
    experiment_dir: &Path,
    events: Option<&mut Events>,
    kill_after: Duration,
) -> Result<Setup> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(workdir)
        .env("EXP_DIR", experiment_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own group, so that stopping it reaches what it started.
        .process_group(0)
        .spawn()
        .map_err(|err| Error::setup(format!("--setup: cannot run sh: {err}")))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    // Read while it runs: a setup that prints much must not block on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let ended = match events {
        Some(events) => wait_or_stop(&mut child, events, kill_after),
        None => child.wait().map(|status| (status, None)),
    };
    let (status, stopped) =
        ended.map_err(|err| Error::setup(format!("--setup: cannot wait for sh: {err}")))?;
    let output = reader.join().unwrap_or_default();
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
    let mut env = Vec::new();
    for line in String::from_utf8_lossy(&output).lines() {
        match assignment(line) {
            Some((key, value)) => env.push((key.to_string(), value.to_string())),
            None if line.trim().is_empty() => {}
            None => note(format!("setup: {line}")),
        }
    }
    Ok(Setup::Env(env))
}

/// Wait for the setup, stopping it at a stop signal; the signal, if one came.
fn wait_or_stop(
    child: &mut Child,
    events: &mut Events,
    kill_after: Duration,
) -> std::io::Result<(ExitStatus, Option<i32>)> {
    let group = Pid::from_raw(child.id() as i32);
    let mut stop: Option<(i32, Instant)> = None;
    loop {
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
        for event in events.wait(timeout) {
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
