//! How a command ended, and the result it left.

use crate::report::warn;
use crate::run::spawn::ConfigFiles;
use crate::store::atomic::write_atomic;
use nix::sys::signal::Signal;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// How one run of a config ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Done,
    Failed {
        exit_code: Option<i32>,
        signal: Option<String>,
        error: String,
    },
    /// Stopped because the runner was told to stop: back to `todo`.
    Interrupted,
}

/// Judge an exit status. `timed_out` means we killed it for `--timeout`.
pub fn judge(status: ExitStatus, timeout: Option<std::time::Duration>) -> Ending {
    if let Some(limit) = timeout {
        return Ending::Failed {
            exit_code: status.code(),
            signal: status.signal().map(signal_name),
            error: format!("timeout: killed after {}", humantime::format_duration(limit)),
        };
    }
    match (status.code(), status.signal()) {
        (Some(0), _) => Ending::Done,
        (Some(code), _) => {
            Ending::Failed { exit_code: Some(code), signal: None, error: format!("exit code {code}") }
        }
        (None, Some(signal)) => Ending::Failed {
            exit_code: None,
            signal: Some(signal_name(signal)),
            error: format!("killed by signal {}", signal_name(signal)),
        },
        (None, None) => {
            Ending::Failed { exit_code: None, signal: None, error: "ended abnormally".to_string() }
        }
    }
}

/// Whether a command died of a signal that stops whole jobs (Slurm's time
/// limit, scancel, a closed terminal): such a death near our own stop is an
/// interruption, not a failure.
pub fn died_of_stop_signal(status: ExitStatus) -> bool {
    let stops = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];
    status.signal().is_some_and(|signal| stops.iter().any(|&stop| stop as i32 == signal))
}

pub fn signal_name(signal: i32) -> String {
    Signal::try_from(signal).map(|s| s.as_str().to_string()).unwrap_or_else(|_| format!("signal {signal}"))
}

/// The config's result: `result.json` if the command wrote one, else the
/// last stdout line that is a JSON object (then saved as `result.json`).
pub fn capture_result(files: &ConfigFiles) -> Option<serde_json::Value> {
    let path = files.result();
    if let Ok(text) = std::fs::read_to_string(&path) {
        return match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value @ serde_json::Value::Object(_)) => Some(value),
            _ => {
                warn(format!("{}: not a JSON object; ignored", path.display()));
                None
            }
        };
    }
    let value = last_json_line(&files.stdout())?;
    if let Err(err) = write_atomic(&path, format!("{value}\n").as_bytes()) {
        warn(err);
    }
    Some(value)
}

/// Read at most the last MiB of `path` and find the last line that parses
/// as a JSON object.
fn last_json_line(path: &std::path::Path) -> Option<serde_json::Value> {
    const TAIL: u64 = 1 << 20;
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines().rev().map(str::trim).filter(|l| l.starts_with('{')).find_map(|line| {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(value @ serde_json::Value::Object(_)) => Some(value),
            _ => None,
        }
    })
}
