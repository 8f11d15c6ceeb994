//! Processes the tests watch and kill: pids written by commands, whether a
//! pid lives, and guards that kill what a failing test would leave behind.

use super::{wait_for, Dir};
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
