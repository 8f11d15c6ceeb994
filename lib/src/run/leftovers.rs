//! What a config's command leaves behind when it ends: processes that
//! still carry its `EXP_RUNNER` and `EXP_NAME` (stragglers in its process
//! group, `setsid` escapees), killed before the config is recorded, put
//! back or retried, so a config never runs beside its own past.
//!
//! The runner is a child subreaper (`PR_SET_CHILD_SUBREAPER`): a process
//! orphaned anywhere below it is reparented to it, not to init. Once a
//! command's leader has exited, whatever it left is thus either still in
//! its group or, having lost its parent, among the runner's own children.
//! The group costs one `kill(-pgid, 0)`; the children one `pread` of
//! `/proc/self/task/PID/children`, kept open (orphans go to the main
//! thread, which starts every process). Only children we do not know (not
//! a running command's leader, not the watchdog) have their environment
//! read, and those carrying the config's marks are killed with their
//! groups; killing one reparents its own children to us, so we look again
//! until none is left.

use crate::runners::RUNNER_VAR;
use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// How long killed processes are waited for (one in uninterruptible sleep
/// on a dead network filesystem must not hang the run).
const KILLED_WAIT: Duration = Duration::from_secs(5);
/// How often a killed process is looked at while we wait.
const PROBE: Duration = Duration::from_millis(1);
/// The most rounds of looking again: a fork bomb does not keep us forever.
const MAX_ROUNDS: usize = 64;

/// Make this process a child subreaper; whether it is one.
pub fn become_subreaper() -> bool {
    nix::sys::prctl::set_child_subreaper(true).is_ok()
}

/// Kills the leftovers of runner `runner`'s configs.
pub struct Leftovers {
    runner: String,
    /// Where our orphaned descendants are listed, kept open: read again
    /// from its start, it lists them anew (one `pread` a look).
    children: Option<std::fs::File>,
}

impl Leftovers {
    pub fn new(runner: &str) -> Leftovers {
        let me = std::process::id();
        let children = std::fs::File::open(format!("/proc/{me}/task/{me}/children")).ok();
        Leftovers { runner: runner.to_string(), children }
    }

    /// Whether the process group `pgid` of an exited command still has
    /// live members (our zombies in it are reaped first, they do not count).
    pub fn group_lingers(pgid: Pid) -> bool {
        if killpg(pgid, None).is_err() {
            return false;
        }
        reap_group(pgid);
        killpg(pgid, None).is_ok()
    }

    /// Kill what is left of the process group `pgid` of an exited command,
    /// and wait (a little) for it to be gone.
    pub fn end_group(pgid: Pid) {
        if Self::group_lingers(pgid) && killpg(pgid, Signal::SIGKILL).is_ok() {
            // Its members reparent to us as their parents die: wait them out.
            let deadline = Instant::now() + KILLED_WAIT;
            while Self::group_lingers(pgid) && Instant::now() < deadline {
                std::thread::sleep(PROBE);
            }
        }
    }

    /// Kill what config `name` left outside its group `pgid` (gone by
    /// now): every child of ours (other than those `known`) that carries
    /// its marks, with their groups, until none is left.
    pub fn kill_escaped(&self, name: &str, pgid: Pid, known: impl Fn(Pid) -> bool) {
        let mut marks = None;
        for _ in 0..MAX_ROUNDS {
            let unknown: Vec<Pid> = self.orphans().into_iter().filter(|&pid| !known(pid)).collect();
            if unknown.is_empty() {
                return;
            }
            let marks = marks
                .get_or_insert_with(|| [format!("{RUNNER_VAR}={}", self.runner), format!("EXP_NAME={name}")]);
            let found: Vec<Pid> = unknown.into_iter().filter(|&pid| carries(pid, marks)).collect();
            if found.is_empty() {
                return;
            }
            let own = nix::unistd::getpgrp();
            for &pid in &found {
                let group = nix::unistd::getpgid(Some(pid)).ok();
                let _ = kill(pid, Signal::SIGKILL);
                if let Some(group) = group.filter(|&g| g != own && g != pgid) {
                    let _ = killpg(group, Signal::SIGKILL);
                }
            }
            let deadline = Instant::now() + KILLED_WAIT;
            for &pid in &found {
                while !reaped(pid) && Instant::now() < deadline {
                    std::thread::sleep(PROBE);
                }
            }
        }
    }

    /// Our children (orphans reparented to us among them).
    fn orphans(&self) -> Vec<Pid> {
        match self.children.as_ref().and_then(read_whole) {
            Some(text) => {
                text.split_whitespace().filter_map(|pid| pid.parse().ok()).map(Pid::from_raw).collect()
            }
            // A kernel without CONFIG_PROC_CHILDREN: look through /proc.
            None => crate::process::children_of(std::process::id())
                .into_iter()
                .map(|pid| Pid::from_raw(pid as i32))
                .collect(),
        }
    }
}

/// A small /proc file from its start: most often one `pread`.
fn read_whole(file: &std::fs::File) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let mut bytes = vec![0u8; 4096];
    let mut len = 0;
    loop {
        let n = file.read_at(&mut bytes[len..], len as u64).ok()?;
        len += n;
        // A /proc file gives all it has while there is room.
        if n == 0 || len < bytes.len() {
            break;
        }
        bytes.resize(bytes.len() * 2, 0);
    }
    bytes.truncate(len);
    String::from_utf8(bytes).ok()
}

/// Whether process `pid`'s environment holds every one of `marks`.
fn carries(pid: Pid, marks: &[String]) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    marks.iter().all(|mark| environ.split(|&b| b == 0).any(|entry| entry == mark.as_bytes()))
}

/// Reap the zombies of ours in group `pgid`.
fn reap_group(pgid: Pid) {
    let group = Pid::from_raw(-pgid.as_raw());
    while let Ok(status) = waitpid(group, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Whether our child `pid` is gone (reaping it if it is a zombie).
fn reaped(pid: Pid) -> bool {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => false,
        Ok(_) | Err(Errno::ECHILD) => true,
        Err(_) => !crate::process::exists(pid.as_raw() as u32),
    }
}
