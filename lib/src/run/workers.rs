//! The workers of a run: its slots, the process group each running
//! command leads, their deadlines (`--timeout`, `--kill-after`, the grace
//! before a death by a stop signal is judged), the kills, and what a
//! command leaves behind. They know processes, not the store: the loop
//! ([`super::pool`]) records what they report.

use super::devices::Held;
use super::leftovers::Leftovers;
use super::watchdog::Watchdog;
use crate::time::Timestamp;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// How long a command's death by SIGTERM/SIGINT/SIGHUP waits for the
/// runner's own stop signal before it counts as a failure.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// How often to check whether a signalled process group has emptied.
const KILL_PROBE: Duration = Duration::from_millis(50);

/// One busy worker slot.
struct Slot {
    name: String,
    attempt: u32,
    pgid: Pid,
    started: Instant,
    deadline: Option<Instant>,
    timed_out: bool,
    /// How its leader exited, while the rest of its group is still going.
    exit: Option<Exit>,
    /// Its device tokens (`--devices`): let go of when the slot is freed.
    devices: Option<Held>,
}

/// How a command's leader exited: its status, the seconds it ran, when.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub status: ExitStatus,
    pub seconds: f64,
    pub ended: Timestamp,
}

/// A config whose command is gone, every process of it: to be judged.
#[derive(Debug)]
pub struct Ended {
    pub worker: usize,
    pub name: String,
    pub attempt: u32,
    pub exit: Exit,
    /// Killed for `--timeout`.
    pub timed_out: bool,
}

/// A process group sent SIGTERM, to be SIGKILLed at `at` if any of it is
/// left, whether or not its leader has exited already.
struct PendingKill {
    pgid: Pid,
    at: Instant,
}

/// An exit by a stop signal, judged once we know whether we are stopping too.
struct Deferred {
    ended: Ended,
    until: Instant,
}

pub struct Workers<'a> {
    running: BTreeMap<usize, Slot>,
    free: BTreeSet<usize>,
    /// Running commands' leaders (their pid is their group's), by pid.
    by_pid: HashMap<Pid, usize>,
    kills: Vec<PendingKill>,
    deferred: Vec<Deferred>,
    watchdog: &'a mut Watchdog,
    leftovers: Leftovers,
    timeout: Option<Duration>,
    kill_after: Duration,
}

impl<'a> Workers<'a> {
    pub fn new(
        jobs: usize,
        watchdog: &'a mut Watchdog,
        leftovers: Leftovers,
        timeout: Option<Duration>,
        kill_after: Duration,
    ) -> Workers<'a> {
        Workers {
            running: BTreeMap::new(),
            free: (0..jobs).collect(),
            by_pid: HashMap::new(),
            kills: Vec::new(),
            deferred: Vec::new(),
            watchdog,
            leftovers,
            timeout,
            kill_after,
        }
    }

    /// A free slot, the lowest.
    pub fn free_slot(&self) -> Option<usize> {
        self.free.first().copied()
    }

    pub fn has_free(&self) -> bool {
        !self.free.is_empty()
    }

    /// Commands running (a leader that exited while its group lingers included).
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Commands running or awaiting a verdict, for the run's counter.
    pub fn in_flight(&self) -> usize {
        self.running.len() + self.deferred.len()
    }

    /// Whether an exit awaits its verdict (a stop signal may yet explain it).
    pub fn judging(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Nothing runs, awaits a verdict or is still being killed.
    pub fn idle(&self) -> bool {
        self.running.is_empty() && self.deferred.is_empty() && self.kills.is_empty()
    }

    /// `worker` runs attempt `attempt` of `name`, whose group `pgid` leads,
    /// holding `devices`.
    pub fn occupy(&mut self, worker: usize, name: &str, attempt: u32, pgid: Pid, devices: Option<Held>) {
        self.watchdog.watch(pgid);
        self.by_pid.insert(pgid, worker);
        self.free.remove(&worker);
        let now = Instant::now();
        let slot = Slot {
            name: name.to_string(),
            attempt,
            pgid,
            started: now,
            deadline: self.timeout.map(|t| now + t),
            timed_out: false,
            exit: None,
            devices,
        };
        self.running.insert(worker, slot);
    }

    /// Reap the next command whose leader has exited: its config, if it
    /// is now gone whole, to be judged (one at a time, so that a config is
    /// counted as running until it is recorded). A leader whose group
    /// lingers leaves its group the time a stop gives (SIGTERM, SIGKILL
    /// after `--kill-after`): its config ends when the group is gone.
    pub fn reap_next(&mut self) -> Option<Ended> {
        loop {
            let (pid, status) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, ExitStatus::from_raw((code & 0xff) << 8)),
                Ok(WaitStatus::Signaled(pid, signal, core)) => {
                    (pid, ExitStatus::from_raw(signal as i32 | if core { 0x80 } else { 0 }))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return None,
                Ok(_) => continue,
            };
            let Some(worker) = self.by_pid.remove(&pid) else { continue };
            let Some(slot) = self.running.get_mut(&worker) else { continue };
            let exit =
                Exit { status, seconds: slot.started.elapsed().as_secs_f64(), ended: Timestamp::now() };
            if !Leftovers::group_lingers(slot.pgid) {
                return self.release(worker, exit);
            }
            slot.exit = Some(exit);
            let pgid = slot.pgid;
            if !self.kills.iter().any(|kill| kill.pgid == pgid) {
                self.terminate(pgid);
            }
        }
    }

    /// Free `worker`'s slot, its command gone: kill whatever it left (most
    /// often nothing, at the cost of a read) before the config is judged.
    fn release(&mut self, worker: usize, exit: Exit) -> Option<Ended> {
        let slot = self.running.remove(&worker)?;
        if slot.exit.is_some() {
            // Its group outlived it: what is left of it goes now.
            Leftovers::end_group(slot.pgid);
        }
        let watchdog = self.watchdog.pid();
        let leaders = &self.by_pid;
        self.leftovers
            .kill_escaped(&slot.name, slot.pgid, |pid| pid == watchdog || leaders.contains_key(&pid));
        self.kills.retain(|kill| kill.pgid != slot.pgid);
        self.watchdog.forget(slot.pgid);
        self.free.insert(worker);
        Some(Ended { worker, name: slot.name, attempt: slot.attempt, exit, timed_out: slot.timed_out })
    }

    /// Hold the verdict on an exit by a stop signal for a moment: Slurm
    /// and scancel signal every process of a job, and we may be stopped too.
    pub fn defer(&mut self, ended: Ended) {
        self.deferred.push(Deferred { ended, until: Instant::now() + STOP_GRACE });
    }

    /// The oldest exit awaiting a verdict, taken off the list (one at a
    /// time, so that it is counted until it is recorded).
    pub fn next_deferred(&mut self) -> Option<Ended> {
        (!self.deferred.is_empty()).then(|| self.deferred.remove(0).ended)
    }

    /// The oldest exit whose wait for a stop signal is over.
    pub fn next_due(&mut self) -> Option<Ended> {
        let now = Instant::now();
        let at = self.deferred.iter().position(|d| now >= d.until)?;
        Some(self.deferred.remove(at).ended)
    }

    /// SIGTERM a command's process group now, SIGKILL what is left of it later.
    fn terminate(&mut self, pgid: Pid) {
        let _ = killpg(pgid, Signal::SIGTERM);
        self.kills.retain(|kill| kill.pgid != pgid);
        self.kills.push(PendingKill { pgid, at: Instant::now() + self.kill_after });
    }

    /// A stop: ask every running command to stop (SIGTERM, SIGKILL later).
    pub fn terminate_all(&mut self) {
        let groups: Vec<Pid> = self.running.values().map(|slot| slot.pgid).collect();
        for pgid in groups {
            self.terminate(pgid);
        }
    }

    /// A second stop: kill every command and what is being killed, now.
    pub fn kill_all(&self) {
        for pgid in self.running.values().map(|slot| slot.pgid).chain(self.kills.iter().map(|k| k.pgid)) {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    /// Deadlines: commands past `--timeout` are asked to stop, groups past
    /// `--kill-after` killed. Returns the slots whose leader had exited and
    /// whose group is now gone: their configs end ([`Workers::finish`]).
    pub fn enforce_deadlines(&mut self) -> Vec<usize> {
        let now = Instant::now();
        let expired: Vec<Pid> = self
            .running
            .values_mut()
            .filter(|slot| slot.exit.is_none() && !slot.timed_out && slot.deadline.is_some_and(|d| now >= d))
            .map(|slot| {
                slot.timed_out = true;
                slot.pgid
            })
            .collect();
        for pgid in expired {
            self.terminate(pgid);
        }
        let mut done_with = Vec::new();
        let leaders = &self.by_pid;
        self.kills.retain(|kill| {
            // Gone once its leader is reaped and no other member is left
            // (our zombies among them reaped first).
            let gone = !leaders.contains_key(&kill.pgid) && !Leftovers::group_lingers(kill.pgid);
            if !gone && now >= kill.at {
                let _ = killpg(kill.pgid, Signal::SIGKILL);
            }
            let finished = gone || now >= kill.at;
            if finished {
                done_with.push(kill.pgid);
            }
            !finished
        });
        let mut gone = Vec::new();
        for pgid in done_with {
            // A config whose leader exited ends when the rest of its group is gone.
            match self.running.iter().find(|(_, slot)| slot.pgid == pgid && slot.exit.is_some()) {
                Some((&worker, _)) => gone.push(worker),
                None if !self.by_pid.contains_key(&pgid) => self.watchdog.forget(pgid),
                None => {}
            }
        }
        gone
    }

    /// The config of slot `worker`, whose leader had exited and whose group
    /// is now gone, to be judged.
    pub fn finish(&mut self, worker: usize) -> Option<Ended> {
        let exit = self.running.get(&worker)?.exit?;
        self.release(worker, exit)
    }

    /// How long until the nearest deadline; soon while a group is being
    /// killed (members other than its leader send no SIGCHLD).
    pub fn next_deadline(&self) -> Option<Duration> {
        let now = Instant::now();
        let deadlines = self.running.values().filter(|s| !s.timed_out).filter_map(|s| s.deadline);
        let deferred = self.deferred.iter().map(|d| d.until);
        let kills = self.kills.iter().map(|k| k.at);
        let wait = deadlines.chain(deferred).chain(kills).map(|t| t.saturating_duration_since(now)).min();
        match self.kills.is_empty() {
            true => wait,
            false => Some(wait.map_or(KILL_PROBE, |wait| wait.min(KILL_PROBE))),
        }
    }

    /// What runs, a line each: its slot, how long, its name and attempt,
    /// its devices.
    pub fn describe(&self) -> Vec<String> {
        self.running
            .iter()
            .map(|(worker, slot)| {
                let elapsed = crate::report::format_seconds(slot.started.elapsed().as_secs_f64());
                let devices =
                    slot.devices.as_ref().map(|d| format!(" on devices {}", d.list())).unwrap_or_default();
                format!(
                    "  worker {worker:>2}  {elapsed:>7}  {} (attempt {}){devices}",
                    slot.name, slot.attempt
                )
            })
            .collect()
    }

    /// Leave on an error: kill every running command and what it left at
    /// once; the names of their configs.
    pub fn abort(&mut self) -> Vec<String> {
        let slots = std::mem::take(&mut self.running);
        for slot in slots.values() {
            let _ = killpg(slot.pgid, Signal::SIGKILL);
        }
        for (pid, _) in std::mem::take(&mut self.by_pid) {
            let _ = waitpid(pid, None);
        }
        let watchdog = self.watchdog.pid();
        for slot in slots.values() {
            Leftovers::end_group(slot.pgid);
            self.leftovers.kill_escaped(&slot.name, slot.pgid, |pid| pid == watchdog);
            self.watchdog.forget(slot.pgid);
        }
        slots.into_values().map(|slot| slot.name).collect()
    }
}
