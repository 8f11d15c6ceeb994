//! `exp-snapshot`: what the running configs are doing, written to
//! `snapshots/STAMP/` without changing the state.
//!
//! `index.md` lists each running config with how long it has run, its
//! worker, host and runner (and its devices, `exp-run --devices`); `NAME.status.txt` holds what its command wrote
//! to `$EXP_STATUS_FILE` and the tails of its stdout and stderr, and
//! `NAME.result.json` its result if it has one. With a signal, each command
//! on this host is signalled first (its own process only, so it must trap
//! the signal; one that does not is left alone, as the signal would end it)
//! and its status file is awaited up to a deadline.
//!
//! `--json` lines: `{"name","duration","worker","host","runner","pid",
//! "signalled","status_updated","note","snapshot","devices"}`, null where
//! unknown (`devices`: the tokens it holds, `0,1`).

use crate::error::{Error, Result};
use crate::model::{Config, Experiment, Status};
use crate::report::format_seconds;
use crate::runners::{hostname, Liveness};
use crate::store::config_files::{MAX_RESULT_BYTES, RESULT, STATUS, STDERR, STDOUT};
use crate::store::folder::{is_symlink_refusal, Folder};
use crate::store::Store;
use crate::time::Timestamp;
use nix::sys::signal::kill;
pub use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How many lines of each log a snapshot keeps.
const LOG_LINES: usize = 20;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub signal: Option<Signal>,
    /// How long to wait for signalled commands' status files.
    pub wait: Duration,
}

/// One running config, as the snapshot saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub duration: Option<f64>,
    pub worker: Option<usize>,
    pub host: Option<String>,
    pub runner: Option<String>,
    /// The command's process, when found on this host.
    pub pid: Option<u32>,
    pub signalled: bool,
    /// Whether the status file changed after the signal.
    pub status_updated: bool,
    /// Why it was not signalled, or what else a reader should know.
    pub note: Option<String>,
    /// The snapshot folder.
    pub snapshot: PathBuf,
    /// The device tokens it holds (`exp-run --devices`).
    pub devices: Option<String>,
}

#[derive(Debug)]
pub struct Snapshot {
    pub dir: PathBuf,
    pub entries: Vec<Entry>,
}

/// Parse `USR1`, `SIGUSR1` or `10`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let upper = text.trim().to_ascii_uppercase();
    let parsed = match upper.parse::<i32>() {
        Ok(number) => Signal::try_from(number).ok(),
        Err(_) => {
            let name = if upper.starts_with("SIG") { upper.clone() } else { format!("SIG{upper}") };
            name.parse::<Signal>().ok()
        }
    };
    parsed.ok_or_else(|| Error::usage(format!("--signal {text:?}: not a signal; try USR1, USR2 or HUP")))
}

/// Take a snapshot of every running config.
pub fn take(store: &mut Store, options: &Options) -> Result<Snapshot> {
    let (experiment, _) = store.read()?;
    take_of(store, &experiment, options)
}

/// Take a snapshot of the running configs of `experiment` (as already read).
pub fn take_of(store: &Store, experiment: &Experiment, options: &Options) -> Result<Snapshot> {
    let now = Timestamp::now();
    let liveness = Liveness::new(store, crate::runners::DEFAULT_STALE_AFTER);
    let here = hostname();
    let mut running: Vec<(&String, &Config)> = Vec::new();
    for (name, entry) in experiment.configs.iter().filter(|(_, e)| e.status() == Status::Running) {
        running.push((name, entry.get()?));
    }

    // The commands of each live runner on this host, found once per runner.
    let mut commands: HashMap<u32, HashMap<String, u32>> = HashMap::new();
    let folder = make_folder(store, &now)?;
    let dir = folder.path().to_path_buf();
    let mut entries = Vec::with_capacity(running.len());
    for (name, config) in &running {
        let claim = config.runner.as_ref();
        let mut entry = Entry {
            name: name.to_string(),
            duration: config.duration(&now),
            worker: claim.and_then(|c| c.worker),
            host: claim.map(|c| c.host.clone()),
            runner: claim.map(|c| c.id.clone()),
            pid: None,
            signalled: false,
            status_updated: false,
            note: None,
            snapshot: dir.clone(),
            devices: claim.and_then(|c| c.devices.clone()),
        };
        match claim {
            None => entry.note = Some("no runner recorded".into()),
            Some(claim) if claim.host != here => {
                entry.note = Some(format!("runs on host {}; not signalled", claim.host))
            }
            // Our pids are not its pids: a container with the host's name, or an earlier boot.
            Some(claim) if !liveness.is_local(claim) => {
                entry.note = Some(format!("runs in another PID namespace of {}; not signalled", claim.host))
            }
            Some(claim) if !liveness.is_alive(claim) => entry.note = Some("its runner is gone".into()),
            Some(claim) => {
                entry.pid = commands
                    .entry(claim.pid)
                    .or_insert_with(|| crate::process::commands_of(claim.pid))
                    .get(*name)
                    .copied();
                if entry.pid.is_none() {
                    entry.note = Some("its command was not found (starting or ending)".into());
                }
            }
        }
        entries.push(entry);
    }

    if let Some(signal) = options.signal {
        signal_and_wait(store, &mut entries, signal, options.wait);
    }
    for entry in &entries {
        write_config(store, &folder, entry, experiment.configs[&entry.name].get()?, options.signal)?;
    }
    write_new(&folder, "index.md", index(experiment, &entries, &now, options.signal).as_bytes())?;
    Ok(Snapshot { dir, entries })
}

/// Signal every command found, then wait until each status file changed
/// or the time is up.
fn signal_and_wait(store: &Store, entries: &mut [Entry], signal: Signal, wait: Duration) {
    let stamp = |name: &str| {
        let meta = store.config_files(name).folder()?.stat(STATUS)?;
        Some((meta.st_mtime, meta.st_mtime_nsec, meta.st_size))
    };
    let mut before = HashMap::new();
    for entry in entries.iter_mut() {
        let Some(pid) = entry.pid else { continue };
        before.insert(entry.name.clone(), stamp(&entry.name));
        if !harmless_by_default(signal) && crate::process::handles_signal(pid, signal as i32) == Some(false) {
            // It would die (or stop) of it: it has not set up its handler
            // yet, or never will. A snapshot never ends a run.
            entry.note = Some(format!("its command does not trap {}", signal.as_str()));
            continue;
        }
        match kill(Pid::from_raw(pid as i32), signal) {
            Ok(()) => entry.signalled = true,
            Err(err) => entry.note = Some(format!("could not be signalled: {err}")),
        }
    }
    let deadline = Instant::now() + wait;
    loop {
        for entry in entries.iter_mut().filter(|e| e.signalled && !e.status_updated) {
            let now = stamp(&entry.name);
            entry.status_updated = now.is_some() && Some(&now) != before.get(&entry.name);
        }
        let waiting = entries.iter().any(|e| e.signalled && !e.status_updated);
        if !waiting || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Signals whose default action leaves a process running.
fn harmless_by_default(signal: Signal) -> bool {
    matches!(signal, Signal::SIGCHLD | Signal::SIGCONT | Signal::SIGURG | Signal::SIGWINCH)
}

/// `snapshots/STAMP/`, a new folder (a suffix keeps two snapshots of the
/// same instant apart), held open: every file is made in it by descriptor,
/// so a folder swapped for a symlink meanwhile takes nothing elsewhere.
fn make_folder(store: &Store, now: &Timestamp) -> Result<Folder> {
    let parent = store.dir().join("snapshots");
    let refused = |path: &Path, err: std::io::Error| match is_symlink_refusal(&err) {
        true => Error::storage(format!(
            "{}: {}; nothing is written through it",
            path.display(),
            crate::store::config_files::refusal(path)
        )),
        false => Error::io("cannot create", path, err),
    };
    let snapshots = Folder::root(store.dir())
        .and_then(|root| root.sub_made("snapshots"))
        .map_err(|err| refused(&parent, err))?
        .0;
    let stamp = now.0.format("%Y-%m-%dT%H-%M-%S%.3f").to_string();
    for n in 1.. {
        let name = if n == 1 { stamp.clone() } else { format!("{stamp}-{n}") };
        match snapshots.sub_made(&name) {
            Ok((folder, true)) => return Ok(folder),
            Ok((_, false)) => continue,
            Err(err) if is_symlink_refusal(&err) => continue,
            Err(err) => return Err(refused(&parent.join(&name), err)),
        }
    }
    unreachable!("some suffix is free")
}

/// A new file in the snapshot folder; never through a symlink.
fn write_new(folder: &Folder, name: &str, contents: &[u8]) -> Result<()> {
    folder
        .create_new(name)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|err| Error::io("cannot write", &folder.join(name), err))
}

fn write_config(
    store: &Store,
    folder: &Folder,
    entry: &Entry,
    config: &Config,
    signal: Option<Signal>,
) -> Result<()> {
    let files = store.config_files(&entry.name);
    let mut text = String::new();
    let _ = writeln!(text, "config: {}", entry.name);
    let since = config.start_time.map(|t| format!(" (since {t})")).unwrap_or_default();
    let _ =
        writeln!(text, "running for: {}{since}", entry.duration.map(format_seconds).unwrap_or("?".into()));
    let _ = writeln!(text, "{}", where_it_runs(entry));
    match (signal, entry.signalled) {
        (Some(signal), true) => {
            let answer =
                if entry.status_updated { "status file written" } else { "status file not written in time" };
            let _ = writeln!(text, "signal: {} sent; {answer}", signal.as_str());
        }
        (Some(_), false) => {
            let _ = writeln!(text, "signal: not sent ({})", entry.note.as_deref().unwrap_or("unknown"));
        }
        (None, _) => {}
    }
    let status = files.tail(STATUS, 64 * 1024);
    let _ = writeln!(text, "\n== status file ({}) ==", files.status_file().display());
    text.push_str(status.as_deref().unwrap_or("(none)\n"));
    for (label, name) in [("stdout", STDOUT), ("stderr", STDERR)] {
        let _ =
            writeln!(text, "\n== {label} (last {LOG_LINES} lines of {}) ==", files.dir.join(name).display());
        for line in files.last_lines(name, LOG_LINES).unwrap_or_default() {
            let _ = writeln!(text, "{line}");
        }
    }
    write_new(folder, &format!("{}.status.txt", entry.name), text.as_bytes())?;
    if let Some(result) = files.read(RESULT, MAX_RESULT_BYTES) {
        write_new(folder, &format!("{}.result.json", entry.name), &result)?;
    }
    Ok(())
}

fn where_it_runs(entry: &Entry) -> String {
    let or_unknown = |value: Option<String>| value.unwrap_or_else(|| "?".into());
    let devices = entry.devices.as_ref().map(|devices| format!(", devices: {devices}")).unwrap_or_default();
    format!(
        "worker: {}, host: {}, runner: {}, command pid: {}{devices}",
        or_unknown(entry.worker.map(|w| w.to_string())),
        or_unknown(entry.host.clone()),
        or_unknown(entry.runner.clone()),
        or_unknown(entry.pid.map(|p| p.to_string())),
    )
}

fn index(experiment: &Experiment, entries: &[Entry], now: &Timestamp, signal: Option<Signal>) -> String {
    let mut out = String::new();
    let title = experiment.name.as_deref().unwrap_or("experiment");
    let _ = writeln!(out, "# Snapshot of {title} at {now}\n");
    if entries.is_empty() {
        let _ = writeln!(out, "No config is running.");
        return out;
    }
    let _ = writeln!(out, "{} config(s) running.\n", entries.len());
    // A devices column when a runner hands out devices.
    let devices = entries.iter().any(|entry| entry.devices.is_some());
    let (head, rule) = if devices { (" devices |", "---|") } else { ("", "") };
    let _ = writeln!(out, "| config | running for | worker |{head} host | runner | signal |");
    let _ = writeln!(out, "|---|---|---|{rule}---|---|---|");
    for entry in entries {
        let signalled = match (signal, entry.signalled, entry.status_updated) {
            (None, ..) => entry.note.clone().unwrap_or_default(),
            (Some(s), true, true) => format!("{}: status written", s.as_str()),
            (Some(s), true, false) => format!("{}: no status in time", s.as_str()),
            (Some(_), false, _) => format!("not signalled: {}", entry.note.as_deref().unwrap_or("?")),
        };
        let held = match devices {
            true => format!(" {} |", entry.devices.as_deref().unwrap_or("")),
            false => String::new(),
        };
        let _ = writeln!(
            out,
            "| [{name}]({name}.status.txt) | {} | {} |{held} {} | {} | {signalled} |",
            entry.duration.map(format_seconds).unwrap_or_default(),
            entry.worker.map(|w| w.to_string()).unwrap_or_default(),
            entry.host.as_deref().unwrap_or(""),
            entry.runner.as_deref().unwrap_or(""),
            name = entry.name,
        );
    }
    out
}
