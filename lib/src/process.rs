//! What Linux's `/proc` tells about other processes: whether one exists,
//! when it started (so a reused pid is not taken for it), and which
//! commands a runner is running.

use std::collections::HashMap;
use std::fs;

/// Whether process `pid` exists (a zombie counts: it is not reaped yet).
pub fn exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::ESRCH) => false,
        Err(_) => true,
    }
}

/// Whether process `pid` still runs: it exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    stat_fields(pid)
        .and_then(|fields| fields.first().cloned())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// The fields of `/proc/PID/stat` after the command name (which may hold
/// spaces and parentheses), starting with field 3, the state.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    fields_of(&format!("/proc/{pid}/stat"))
}

fn fields_of(path: &str) -> Option<Vec<String>> {
    let stat = fs::read_to_string(path).ok()?;
    Some(stat.rsplit_once(')')?.1.split_whitespace().map(str::to_string).collect())
}

/// Field 22 of `/proc/PID/stat`, the process's start time since boot.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// This process's start time since boot, from `/proc/self`: right even in a
/// PID namespace whose `/proc` is its parent's, where our pid means another.
pub fn own_start_ticks() -> Option<u64> {
    fields_of("/proc/self/stat")?.get(19)?.parse().ok()
}

/// The commands a runner on this host is running, by config name: its
/// children that lead their own process group (as every command does) and
/// carry `EXP_NAME` in their environment.
pub fn commands_of(runner_pid: u32) -> HashMap<String, u32> {
    let mut commands = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return commands;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Some(fields) = stat_fields(pid) else { continue };
        let (ppid, pgrp) = (fields.get(1).and_then(|f| f.parse::<u32>().ok()), fields.get(2));
        if ppid != Some(runner_pid) || pgrp.and_then(|f| f.parse::<u32>().ok()) != Some(pid) {
            continue;
        }
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else { continue };
        let name = environ.split(|&b| b == 0).find_map(|entry| entry.strip_prefix(b"EXP_NAME="));
        if let Some(name) = name.and_then(|n| std::str::from_utf8(n).ok()) {
            commands.insert(name.to_string(), pid);
        }
    }
    commands
}

/// Whether process `pid` catches or ignores signal number `signal` (the
/// `SigCgt` and `SigIgn` masks of `/proc/PID/status`); None if it is gone.
pub fn handles_signal(pid: u32, signal: i32) -> Option<bool> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let bit = 1u64.checked_shl(u32::try_from(signal).ok()?.checked_sub(1)?)?;
    let mask = |key: &str| {
        let line = status.lines().find_map(|line| line.strip_prefix(key))?;
        u64::from_str_radix(line.trim(), 16).ok()
    };
    Some((mask("SigCgt:")? | mask("SigIgn:")?) & bit != 0)
}

/// Unblock signals this process handles: a blocked mask is inherited across
/// exec, and a runner started with SIGTERM blocked would never stop.
pub fn unblock_signals(signals: &[i32]) {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let mut set = SigSet::empty();
    for signal in signals.iter().filter_map(|&s| Signal::try_from(s).ok()) {
        set.add(signal);
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
}

/// Put SIGCHLD back to its default, before anything catches it. Ignored,
/// it is inherited across exec and makes the kernel reap children unasked:
/// every wait for one then fails (ECHILD), and the commands we start would
/// inherit it too.
pub fn reset_sigchld() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: setting a signal to SIG_DFL installs no handler code.
    let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) };
}

/// Processes (other than this one) whose environment holds `KEY=VALUE`,
/// with their process groups.
pub fn with_env(key: &str, value: &str) -> Vec<(u32, u32)> {
    let wanted = format!("{key}={value}").into_bytes();
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|e| e == wanted))
        })
        .filter_map(|pid| Some((pid, stat_fields(pid)?.get(2)?.parse().ok()?)))
        .collect()
}

/// The children of process `parent`, by a look through all of `/proc`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat_fields(pid).and_then(|f| f.get(1)?.parse::<u32>().ok()) == Some(parent))
        .collect()
}
