//! How a command ended, and the result it left.

use crate::model::Ending;
use crate::report::warn;
use crate::store::config_files::{ConfigFiles, RESULT, RESULT_YAML, STDERR, STDOUT};
use crate::store::folder::Folder;
use nix::sys::signal::Signal;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// Judge an exit status; `timeout`, the limit when we killed it for `--timeout`.
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

/// Capture the result of a config that ended (interrupted ones leave none),
/// and give a failure's error the last line its command wrote on stderr.
/// With `require_result`, exit 0 without a result is a failure, `no result`.
/// Also returns a warning about its stdout, if it deserves one.
pub fn ended_with_result(
    files: &ConfigFiles,
    ending: Ending,
    require_result: bool,
) -> (Ending, Option<String>) {
    match ending {
        Ending::Interrupted | Ending::NotStarted => (ending, None),
        Ending::Done => {
            let Captured { result, warning } = capture_result(files);
            if require_result && result.is_none() {
                let error = "no result".to_string();
                return (Ending::Failed { exit_code: Some(0), signal: None, error }, warning);
            }
            (ending, warning)
        }
        Ending::Failed { exit_code, signal, error } => {
            let warning = capture_result(files).warning;
            let error = match last_stderr_line(files) {
                Some(line) => format!("{error}: {line}"),
                None => error,
            };
            (Ending::Failed { exit_code, signal, error }, warning)
        }
    }
}

/// The longest stderr line kept in a failure's error, in characters.
const MAX_ERROR_LINE: usize = 200;

/// The last non-empty line of the config's stderr, trimmed.
fn last_stderr_line(files: &ConfigFiles) -> Option<String> {
    let text = files.tail(STDERR, 16 * 1024)?;
    let line = text.lines().map(str::trim).rfind(|line| !line.is_empty())?;
    let mut line: String = line.chars().filter(|c| !c.is_control()).collect();
    if line.chars().count() > MAX_ERROR_LINE {
        line = line.chars().take(MAX_ERROR_LINE).collect::<String>() + "…";
    }
    Some(line)
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

/// What a command left as its result.
pub struct Captured {
    pub result: Option<serde_json::Value>,
    /// Why its stdout deserves a look: after its result line, or with none,
    /// a line that starts with `{` and is not JSON.
    pub warning: Option<String>,
}

/// The config's result: `result.json` (or Delphyne's `result.yaml`) if the
/// command wrote one, else the last stdout line that is a JSON object (then
/// saved as `result.json`).
pub fn capture_result(files: &ConfigFiles) -> Captured {
    let Some(folder) = files.folder() else {
        return Captured { result: None, warning: None };
    };
    if folder.has(RESULT) || folder.has(RESULT_YAML) {
        return Captured { result: ConfigFiles::read_result_in(&folder, None), warning: None };
    }
    let (result, warning) = last_json_line(files, &folder);
    if let Some(value) = &result {
        if let Err(err) = folder.write_atomic(RESULT, format!("{value}\n").as_bytes()) {
            warn(crate::Error::io("cannot write", &files.result(), err));
        }
    }
    Captured { result, warning }
}

/// How much of the end of stdout is searched for a result line.
pub const RESULT_TAIL: u64 = 16 << 20;

/// How much of a line that is not JSON a warning shows, in characters.
const SHOWN_LINE: usize = 120;

/// The last line in the last [`RESULT_TAIL`] bytes of stdout that parses
/// as a JSON object; a warning names the limit when stdout is longer and
/// holds none. Also a warning about the last line after it (or in all of it,
/// when there is none) that starts with `{` and is not JSON: a result that
/// was meant, and would be lost without a word.
fn last_json_line(files: &ConfigFiles, folder: &Folder) -> (Option<serde_json::Value>, Option<String>) {
    // The folder opened once: a config's end costs as few calls as may be.
    let Some((text, len)) = ConfigFiles::tail_lines_in(folder, STDOUT, RESULT_TAIL) else {
        return (None, None);
    };
    let mut not_json = None;
    let mut found = None;
    for line in text.lines().rev().map(str::trim).filter(|l| l.starts_with('{')) {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(value @ serde_json::Value::Object(_)) => {
                found = Some(value);
                break;
            }
            Ok(_) => {}
            Err(err) => {
                not_json.get_or_insert((line, err));
            }
        }
    }
    if found.is_none() && len > RESULT_TAIL {
        warn(format!(
            "{}: no JSON object line in its last {} MiB, the most searched for a result; write $EXP_RESULT instead",
            files.stdout().display(),
            RESULT_TAIL >> 20
        ));
    }
    let warning = not_json.map(|(line, err)| {
        let mut shown: String = line.chars().filter(|c| !c.is_control()).take(SHOWN_LINE).collect();
        if line.chars().count() > SHOWN_LINE {
            shown.push('…');
        }
        let outcome = match found {
            Some(_) => "the result is an earlier line",
            None => "there is no result",
        };
        format!("stdout line {shown} starts with '{{' but is not JSON ({err}); {outcome}")
    });
    (found, warning)
}
