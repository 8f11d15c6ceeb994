//! Processes the tests watch and kill: pids written by commands, whether a
//! pid lives, and guards that kill what a failing test would leave behind.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::path::Path;

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

/// SIGKILLs a process group when dropped, so a failing test leaves no orphan.
pub struct KillGroup(pub i32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}
