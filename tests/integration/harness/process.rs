//! Processes the tests watch and kill: pids written by commands, whether a
//! pid lives, guards that kill what a failing test would leave behind, and
//! a runner killed with its watchdog (its commands orphaned).

use super::{wait_for, Bg, Dir};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

/// Whether process `pid` still lives (a zombie is dead: nobody may reap the
/// orphans of a killed runner in a container).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.trim_start().chars().next()
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// A pid written to a file by a command, once the file is complete.
pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// This machine's hostname, as exp records a host.
pub fn hostname() -> String {
    nix::unistd::gethostname().unwrap().to_string_lossy().into_owned()
}

/// The pid a command writes to `TMP/relative`, once it is there.
pub fn wait_pid(dir: &Dir, relative: &str) -> i32 {
    let path = dir.path().join(relative);
    wait_for(&format!("a pid in {relative}"), || read_pid(&path).is_some());
    read_pid(&path).unwrap()
}

/// SIGKILLs what a test started when dropped, so a failing test leaves
/// nothing behind.
pub enum KillOnDrop {
    /// A process.
    Pid(i32),
    /// A process group: an orphaned command (its runner and watchdog killed).
    Group(i32),
    /// The processes whose pids are in these files by then (a service a
    /// setup started, written once it runs).
    PidFiles(Vec<PathBuf>),
    /// These processes if they are still `sleep` (a pid reused since by
    /// another process is left alone).
    Sleeps(Vec<i32>),
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let sigkill = |pid: i32| {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        };
        match self {
            KillOnDrop::Pid(pid) => sigkill(*pid),
            KillOnDrop::Group(pid) => {
                let _ = killpg(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            KillOnDrop::PidFiles(files) => files.iter().filter_map(|path| read_pid(path)).for_each(sigkill),
            KillOnDrop::Sleeps(pids) => {
                for &pid in pids.iter() {
                    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    if alive(pid) && cmdline.starts_with(b"sleep") {
                        sigkill(pid);
                    }
                }
            }
        }
    }
}

/// The pids whose parent is `parent`.
pub fn children_of(parent: i32) -> Vec<i32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// The watchdog of the runner `runner` (its child in watchdog mode).
pub fn watchdog_of(runner: i32) -> Option<i32> {
    children_of(runner).into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).any(|arg| arg == b"--internal-watchdog"))
    })
}

/// SIGKILL a runner and its watchdog, its watchdog first so that nothing
/// kills the runner's commands: a runner lost with its host, or a whole
/// process group killed. Returns once both are dead.
pub fn kill_runner_and_watchdog(runner: &mut Bg) {
    let pid = runner.pid().as_raw();
    let watchdog = watchdog_of(pid).expect("the runner's watchdog");
    kill(Pid::from_raw(watchdog), Signal::SIGKILL).unwrap();
    wait_for("the watchdog to die", || !alive(watchdog));
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    runner.wait_exit();
}
