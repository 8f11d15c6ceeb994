//! The pool: claims todo configs under the lock and runs them in worker
//! slots, one process group each.
//!
//! The pool is driven by signals (`events`): SIGCHLD makes the loop reap
//! every exited command, SIGINT/SIGTERM/SIGHUP stop the run. The loop spawns
//! every command (and tells the watchdog), then waits in `poll` with a
//! timeout set by the nearest deadline, so a freed slot is refilled as soon
//! as the exit is reaped, with no polling sleeps.
//! Feedback adds deadlines of its own: four a second to redraw the bars on
//! a terminal, one per `--status-every` off it, none otherwise.
//! Every status change is one journal append under the lock, written before
//! the runner moves on. How commands and the run end (signals, deadlines,
//! kills, the closing) is in [`ending`].

mod ending;

use ending::Others;

use super::events::{self, Events};
use super::feedback::Feedback;
use super::leftovers::Leftovers;
use super::outcome::{capture_result, died_of_stop_signal, ended_with_result, judge};
use super::spawn::{Launcher, NotStarted};
use super::tally::Tally;
use super::watchdog::Watchdog;
use super::Options;
use crate::error::{Kind, Result};
use crate::model::Counts;
use crate::model::{Claim, Ending, Experiment, Status};
use crate::runners::{recover_stale, Liveness, Registration};
use crate::select::Selection;
use crate::store::journal::Event;
use crate::store::lock::Lock;
use crate::store::{Cursor, Refresh, Store};
use crate::time::Timestamp;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// How long a command's death by SIGTERM/SIGINT/SIGHUP waits for the
/// runner's own stop signal before it counts as a failure.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long to wait before asking the journal again when nothing was claimable.
const IDLE_RECHECK: Duration = Duration::from_secs(1);
/// How often to check whether a signalled process group has emptied.
const KILL_PROBE: Duration = Duration::from_millis(50);
/// The first and the longest wait before starting again after a resource error.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// One busy worker slot.
struct Slot {
    name: String,
    attempt: u32,
    pgid: Pid,
    started: Instant,
    deadline: Option<Instant>,
    timed_out: bool,
    /// How its leader exited, while the rest of its group is still going.
    exit: Option<(ExitStatus, f64, Timestamp)>,
}

/// Launching on hold after a resource error (EMFILE, EAGAIN...), until `until`.
#[derive(Clone, Copy)]
struct Backoff {
    until: Instant,
    delay: Duration,
}

/// A process group sent SIGTERM, to be SIGKILLed at `at` if any of it is
/// left, whether or not its leader has exited already.
struct PendingKill {
    pgid: Pid,
    at: Instant,
}

/// An exit by a stop signal, judged once we know whether we are stopping too.
struct Deferred {
    worker: usize,
    name: String,
    attempt: u32,
    status: ExitStatus,
    seconds: f64,
    ended: Timestamp,
    until: Instant,
}

pub(super) struct Pool<'a> {
    store: Store,
    experiment: Experiment,
    cursor: Cursor,
    options: &'a Options,
    launcher: Launcher,
    selection: Selection,
    registration: Registration,
    events: Events,
    workers_by_pid: HashMap<Pid, usize>,
    watchdog: &'a mut Watchdog,
    leftovers: Leftovers,
    queue: VecDeque<String>,
    retry_queue: VecDeque<String>,
    /// Whether `--max-failures` was reached and said so.
    brake_said: bool,
    /// Out of work: the heartbeat of each other host's runner that holds a
    /// claim, as first seen, by runner; and whether the wait was said.
    beats_seen: HashMap<String, std::time::SystemTime>,
    waiting_said: bool,
    tried: HashSet<String>,
    run_attempts: HashMap<String, u32>,
    running: BTreeMap<usize, Slot>,
    free: BTreeSet<usize>,
    deferred: Vec<Deferred>,
    kills: Vec<PendingKill>,
    feedback: Feedback,
    tally: Tally,
    stop: Option<i32>,
    started_at: Instant,
    started_configs: usize,
    nothing_claimable_at: Option<Instant>,
    backoff: Option<Backoff>,
    /// Whether a back-off was said (once a run).
    backoff_said: bool,
    /// `--require-result`, or the experiment's own.
    require_result: bool,
    /// Warnings about results, by config, until they are recorded.
    result_warnings: HashMap<String, String>,
}

impl<'a> Pool<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        store: Store,
        experiment: Experiment,
        cursor: Cursor,
        options: &'a Options,
        launcher: Launcher,
        selection: Selection,
        registration: Registration,
        events: Events,
        watchdog: &'a mut Watchdog,
    ) -> Pool<'a> {
        let jobs = options.jobs.max(1);
        let leftovers = Leftovers::new(&registration.claim.id);
        let require_result = options.require_result || experiment.require_result();
        Pool {
            store,
            experiment,
            cursor,
            options,
            launcher,
            selection,
            registration,
            events,
            workers_by_pid: HashMap::new(),
            leftovers,
            watchdog,
            queue: VecDeque::new(),
            retry_queue: VecDeque::new(),
            brake_said: false,
            beats_seen: HashMap::new(),
            waiting_said: false,
            tried: HashSet::new(),
            run_attempts: HashMap::new(),
            running: BTreeMap::new(),
            free: (0..jobs).collect(),
            deferred: Vec::new(),
            kills: Vec::new(),
            feedback: Feedback::new(
                options.progress,
                options.json,
                options.quiet,
                jobs,
                options.status_every,
            ),
            tally: Tally::default(),
            stop: None,
            started_at: Instant::now(),
            started_configs: 0,
            nothing_claimable_at: None,
            backoff: None,
            backoff_said: false,
            require_result,
            result_warnings: HashMap::new(),
        }
    }

    /// Under the lock at start: recover dead runners' claims, re-queue failed
    /// configs for `--retry-failed`, and build the queue.
    pub(super) fn prepare(&mut self, lock: &Lock, liveness: &Liveness) -> Result<()> {
        let recovered =
            recover_stale(&mut self.store, lock, &mut self.cursor, &mut self.experiment, liveness)?;
        if self.options.retry_failed {
            let mut events = Vec::new();
            for (name, entry) in self.experiment.configs.iter_mut() {
                if entry.status() == Status::Failed && self.selection.contains(name) {
                    let config = entry.get_mut()?;
                    config.reset();
                    events.push(Event { name: name.clone(), config: config.clone() });
                }
            }
            self.store.append(lock, &mut self.cursor, &events)?;
        }
        // The queue first, so these lines show the run's total.
        self.rebuild_queue();
        if !recovered.is_empty() {
            self.feedback.say(&format!(
                "{} config(s) left running by runners that are gone are back to todo",
                recovered.len()
            ));
        }
        self.say_skipped_names();
        Ok(())
    }

    /// `--names`: listed configs that will not run, and why.
    fn say_skipped_names(&self) {
        let Some(names) = &self.selection.names else { return };
        let mut skipped = Counts::default();
        for entry in names.iter().filter_map(|name| self.experiment.configs.get(name)) {
            if matches!(entry.status(), Status::Done | Status::Running) {
                skipped.add(entry.status());
            }
        }
        if skipped.total > 0 {
            self.feedback.say(&format!(
                "{} listed config(s) skipped: {} done, {} running (exp-clean --reset --names FILE puts done ones back to todo)",
                skipped.total, skipped.done, skipped.running
            ));
        }
    }

    fn rebuild_queue(&mut self) {
        self.queue = self
            .experiment
            .configs
            .iter()
            .filter(|(name, entry)| self.claimable(name, entry.status()))
            .map(|(name, _)| name.clone())
            .collect();
        self.count_total();
    }

    /// Tell the feedback how many configs this run knows of: finished,
    /// running, waiting for a verdict or a retry, and queued (as many as
    /// `--limit` still lets start). Queued ones another runner takes drop
    /// out as they are met.
    fn count_total(&mut self) {
        let mut queued = self.queue.len();
        if let Some(limit) = self.options.limit {
            queued = queued.min(limit.saturating_sub(self.started_configs));
        }
        // Those a stop put back count too: the total stays put meanwhile.
        let known = self.tally.finished()
            + self.tally.interrupted
            + self.running.len()
            + self.deferred.len()
            + self.retry_queue.len()
            + queued;
        self.feedback.set_total(known);
    }

    /// Todo configs in the selection; listed failed ones too, once per run.
    fn claimable(&self, name: &str, status: Status) -> bool {
        self.selection.wants(name, status, self.selection.by_name() && !self.tried.contains(name))
    }

    /// The main loop: launch while slots are free, then wait for the next event.
    pub(super) fn work(&mut self) -> Result<()> {
        loop {
            // A signal that came before (or while) we were busy wins over launching.
            self.handle_pending()?;
            if self.stop.is_none() && self.deferred.is_empty() {
                self.launch()?;
            }
            if self.running.is_empty() && self.deferred.is_empty() && self.kills.is_empty() {
                if self.stop.is_some() || !self.may_start_more() {
                    return Ok(());
                }
                // Backing off, or waiting for another host's runner to
                // show it lives: there may be more to do; wait below.
                if !self.backing_off() {
                    match self.recover_others()? {
                        Others::Recovered => continue,
                        Others::Waiting => {}
                        Others::None => return Ok(()),
                    }
                }
            }
            let timeout = self.next_wakeup();
            for event in self.events.wait(timeout) {
                self.handle(event)?;
            }
            self.enforce_deadlines()?;
            self.feedback.tick(self.tally);
            if self.store.sync_due().is_some_and(|due| due.is_zero()) {
                self.store.sync()?;
            }
        }
    }

    fn handle_pending(&mut self) -> Result<()> {
        for event in self.events.pending() {
            self.handle(event)?;
        }
        Ok(())
    }

    fn handle(&mut self, event: events::Event) -> Result<()> {
        match event {
            events::Event::Signal(signal_hook::consts::SIGCHLD) => self.reap(),
            events::Event::Signal(signal) => self.signalled(signal),
            events::Event::Enter => {
                self.show_running();
                Ok(())
            }
        }
    }

    /// `--interactive`: list the running configs and take a snapshot.
    fn show_running(&mut self) {
        let mut lines = vec![format!("{} config(s) running here:", self.running.len())];
        for (worker, slot) in &self.running {
            let elapsed = crate::report::format_seconds(slot.started.elapsed().as_secs_f64());
            lines.push(format!(
                "  worker {worker:>2}  {elapsed:>7}  {} (attempt {})",
                slot.name, slot.attempt
            ));
        }
        let options = crate::snapshot::Options { signal: None, wait: Duration::ZERO };
        match crate::snapshot::take(&mut self.store, &options) {
            Ok(snapshot) => lines.push(format!("snapshot: {}", snapshot.dir.display())),
            Err(err) => lines.push(format!("no snapshot: {err}")),
        }
        self.feedback.say(&lines.join("\n"));
    }

    /// `--max-failures` reached: nothing more is launched, retries included.
    fn braked(&self) -> bool {
        self.options.max_failures.is_some_and(|max| self.tally.failed >= max)
    }

    fn may_start_more(&self) -> bool {
        !self.braked()
            && self.options.limit.is_none_or(|limit| self.started_configs < limit)
            && self.options.stop_after.is_none_or(|limit| self.started_at.elapsed() < limit)
    }

    fn launch(&mut self) -> Result<()> {
        if self.nothing_claimable_at.is_some_and(|at| at.elapsed() < IDLE_RECHECK) {
            return Ok(());
        }
        while let Some(&worker) = self.free.first() {
            // Commands that fail to start free their slot at once: a stop
            // signal must still be heard between them.
            self.handle_pending()?;
            if self.stop.is_some()
                || self.braked()
                || self.backing_off()
                || (!self.may_start_more() && self.retry_queue.is_empty())
            {
                return Ok(());
            }
            let Some((name, attempt)) = self.claim(worker)? else {
                self.nothing_claimable_at = Some(Instant::now());
                return Ok(());
            };
            self.start(worker, name, attempt)?;
        }
        Ok(())
    }

    /// Read what other processes wrote since last time (under the lock),
    /// queueing configs that became todo. Every append follows one, so it
    /// is always made in the current journal epoch.
    fn catch_up(&mut self, lock: &Lock) -> Result<()> {
        match self.store.refresh(lock, &mut self.experiment, &mut self.cursor)? {
            Refresh::Events(events) => {
                for event in events {
                    if event.config.status == Status::Todo && self.selection.contains(&event.name) {
                        self.queue.push_back(event.name);
                    }
                }
            }
            Refresh::Reloaded => self.rebuild_queue(),
        }
        self.count_total();
        Ok(())
    }

    /// Take the next config under the lock, reading what other processes
    /// wrote since last time. Retries of this run come first.
    fn claim(&mut self, worker: usize) -> Result<Option<(String, u32)>> {
        let claimed = self.claim_next(worker);
        if !matches!(claimed, Ok(Some(_))) {
            // Queued configs that were no longer claimable are gone from the count.
            self.count_total();
        }
        claimed
    }

    fn claim_next(&mut self, worker: usize) -> Result<Option<(String, u32)>> {
        let lock = self.store.lock()?;
        self.catch_up(&lock)?;
        loop {
            let (name, retry) = match self.retry_queue.pop_front() {
                Some(name) => (name, true),
                None if !self.may_start_more() => return Ok(None),
                None => match self.queue.pop_front() {
                    Some(name) => (name, false),
                    None => return Ok(None),
                },
            };
            let Some(entry) = self.experiment.configs.get(&name) else {
                continue;
            };
            let ok =
                if retry { entry.status() == Status::Failed } else { self.claimable(&name, entry.status()) };
            if !ok {
                continue;
            }
            let config = self.experiment.configs.get_mut(&name).expect("present").get_mut()?;
            let claim = Claim { worker: Some(worker), ..self.registration.claim.clone() };
            let attempt = config.claim(claim, Timestamp::now());
            let event = Event { name: name.clone(), config: config.clone() };
            self.store.append(&lock, &mut self.cursor, &[event])?;
            if self.tried.insert(name.clone()) {
                self.started_configs += 1;
            }
            *self.run_attempts.entry(name.clone()).or_default() += 1;
            return Ok(Some((name, attempt)));
        }
    }

    fn start(&mut self, worker: usize, name: String, attempt: u32) -> Result<()> {
        let child = match self.launcher.spawn(&self.store, &self.experiment, &name, attempt, worker) {
            Ok(child) => child,
            // Out of open files, processes or memory: no fault of the
            // config, and it may pass. Back to todo, and try again.
            Err(NotStarted::Runner(err)) if err.kind == Kind::Resource => {
                self.record(worker, &name, attempt, Ending::NotStarted, 0.0, Timestamp::now())?;
                self.put_back(&name);
                self.back_off(&name, &err);
                return Ok(());
            }
            // A full or read-only disk, a folder not ours to write or that
            // is a symlink: no fault of the config either. The run stops,
            // the config back to todo, rather than fail them all.
            Err(NotStarted::Runner(err)) => {
                let _ = self.record(worker, &name, attempt, Ending::NotStarted, 0.0, Timestamp::now());
                return Err(
                    err.context(format!("cannot prepare {name}'s folder ({name} is back to todo); stopping, nothing more is started"))
                );
            }
            Err(NotStarted::Command(err)) => {
                self.feedback.started(&name, attempt, worker, self.store.config_files(&name), self.tally);
                let ending = Ending::Failed { exit_code: None, signal: None, error: err.message };
                return self.record(worker, &name, attempt, ending, 0.0, Timestamp::now());
            }
        };
        self.backoff = None;
        // Reaped by `reap` on SIGCHLD, by pid.
        let pgid = Pid::from_raw(child.id() as i32);
        drop(child);
        self.watchdog.watch(pgid);
        self.workers_by_pid.insert(pgid, worker);
        let now = Instant::now();
        self.free.remove(&worker);
        self.running.insert(
            worker,
            Slot {
                name: name.clone(),
                attempt,
                pgid,
                started: now,
                deadline: self.options.timeout.map(|t| now + t),
                timed_out: false,
                exit: None,
            },
        );
        self.tally.running = self.running.len();
        self.count_total();
        self.feedback.started(&name, attempt, worker, self.store.config_files(&name), self.tally);
        Ok(())
    }

    /// Collect every command that has exited (signals coalesce, so loop).
    fn reap(&mut self) -> Result<()> {
        loop {
            let (pid, status) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, ExitStatus::from_raw((code & 0xff) << 8)),
                Ok(WaitStatus::Signaled(pid, signal, core)) => {
                    (pid, ExitStatus::from_raw(signal as i32 | if core { 0x80 } else { 0 }))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return Ok(()),
                Ok(_) => continue,
            };
            if let Some(worker) = self.workers_by_pid.remove(&pid) {
                self.exited(worker, status)?;
            }
        }
    }

    /// A command's leader exited. What it left in its group gets the time
    /// a stop gives (SIGTERM, SIGKILL after `--kill-after`): the config
    /// ends when its group is gone.
    fn exited(&mut self, worker: usize, status: ExitStatus) -> Result<()> {
        let Some(slot) = self.running.get_mut(&worker) else {
            return Ok(());
        };
        let (pgid, seconds, ended) = (slot.pgid, slot.started.elapsed().as_secs_f64(), Timestamp::now());
        if Leftovers::group_lingers(pgid) {
            slot.exit = Some((status, seconds, ended));
            if !self.kills.iter().any(|kill| kill.pgid == pgid) {
                self.terminate(pgid);
            }
            return Ok(());
        }
        self.finish(worker, status, seconds, ended)
    }

    /// A config's command has ended: kill whatever it left (nothing, most
    /// often, at the cost of a read), then judge and record it.
    fn finish(&mut self, worker: usize, status: ExitStatus, seconds: f64, ended: Timestamp) -> Result<()> {
        let Some(slot) = self.running.remove(&worker) else {
            return Ok(());
        };
        let watchdog = self.watchdog.pid();
        let leaders = &self.workers_by_pid;
        if slot.exit.is_some() {
            // Its group outlived it: what is left of it goes now.
            Leftovers::end_group(slot.pgid);
        }
        self.leftovers
            .kill_escaped(&slot.name, slot.pgid, |pid| pid == watchdog || leaders.contains_key(&pid));
        self.kills.retain(|kill| kill.pgid != slot.pgid);
        self.watchdog.forget(slot.pgid);
        self.free.insert(worker);
        self.tally.running = self.running.len();
        self.nothing_claimable_at = None;
        let files = self.store.config_files(&slot.name);
        let ending = if slot.timed_out {
            judge(status, self.options.timeout)
        } else if self.stop.is_some() {
            // Asked to stop, a command that saves a checkpoint and exits 0
            // has not finished: done only with exit 0 and a result.
            let captured = capture_result(&files);
            let finished = status.success() && captured.result.is_some();
            self.result_warning(&slot.name, captured.warning.filter(|_| finished));
            let ending = if finished { Ending::Done } else { Ending::Interrupted };
            return self.record(worker, &slot.name, slot.attempt, ending, seconds, ended);
        } else if died_of_stop_signal(status) {
            // Slurm and scancel signal every process of the job: wait a
            // moment to learn whether we are being stopped too.
            let until = Instant::now() + STOP_GRACE;
            let (name, attempt) = (slot.name, slot.attempt);
            self.deferred.push(Deferred { worker, name, attempt, status, seconds, ended, until });
            return Ok(());
        } else {
            judge(status, None)
        };
        let (ending, warning) = ended_with_result(&files, ending, self.require_result);
        self.result_warning(&slot.name, warning);
        self.record(worker, &slot.name, slot.attempt, ending, seconds, ended)
    }

    /// Write a config's ending to the journal, then tell people.
    fn record(
        &mut self,
        worker: usize,
        name: &str,
        attempt: u32,
        ending: Ending,
        seconds: f64,
        now: Timestamp,
    ) -> Result<()> {
        let lock = self.store.lock()?;
        self.catch_up(&lock)?;
        if !self.holds(name) {
            // We were taken for dead (e.g. suspended past --stale-after) and
            // the config was recovered by someone else: theirs is the record.
            self.feedback.released(worker);
            self.feedback
                .say(&format!("{name} was recovered by another runner meanwhile; not recording this run"));
            return Ok(());
        }
        let config = self.experiment.configs.get_mut(name).expect("a held config exists").get_mut()?;
        config.finish(&ending, now, self.result_warnings.remove(name));
        match &ending {
            Ending::Done => self.tally.done += 1,
            Ending::Failed { .. } => self.tally.failed += 1,
            Ending::Interrupted => self.tally.interrupted += 1,
            Ending::NotStarted => {}
        }
        let event = Event { name: name.to_string(), config: config.clone() };
        self.store.append(&lock, &mut self.cursor, &[event])?;
        if self.store.journal_outgrew_state(&self.cursor, 0) {
            // A checkpoint: the journal of a long run on a big experiment
            // stays a fraction of its state. Every ending is in the journal
            // already, so a fold that fails loses nothing.
            self.store.sync()?;
            match self.store.fold(&lock, &mut self.experiment) {
                Ok(cursor) => self.cursor = cursor,
                Err(err) => self.feedback.warn(&format!("could not fold the journal: {err}")),
            }
        }
        drop(lock);
        let retries_left = self.run_attempts.get(name).copied().unwrap_or(0) <= self.options.retries;
        let mut retry = matches!(ending, Ending::Failed { .. }) && retries_left && self.stop.is_none();
        if retry {
            // Not finished yet: the counts leave it out until its last attempt.
            self.tally.failed -= 1;
            self.retry_queue.push_back(name.to_string());
        }
        let braking = self.braked() && !self.brake_said;
        if self.braked() && !self.retry_queue.is_empty() {
            // Launching nothing more means no retries either: those
            // configs have failed, and count so.
            self.tally.failed += self.retry_queue.len();
            self.retry_queue.clear();
            retry = false;
        }
        self.count_total();
        if ending == Ending::NotStarted {
            // Nothing was started, so there is nothing to tell of its end.
            return Ok(());
        }
        self.feedback.ended(name, attempt, worker, &ending, seconds, self.tally);
        if retry {
            let tries = self.run_attempts.get(name).copied().unwrap_or(0);
            self.feedback.retrying(name, tries + 1, self.options.retries + 1, self.tally);
        } else if braking {
            self.brake_said = true;
            self.feedback.say(&format!(
                "{} config(s) failed: --max-failures reached, launching nothing more ({} still running)",
                self.tally.failed,
                self.running.len()
            ));
        }
        Ok(())
    }

    /// Whether this runner's claim is still on the config (in the state as
    /// last caught up).
    fn holds(&self, name: &str) -> bool {
        let Some(entry) = self.experiment.configs.get(name).filter(|e| e.status() == Status::Running) else {
            return false;
        };
        let claim = entry.get().ok().and_then(|config| config.runner.as_ref());
        claim.is_some_and(|claim| claim.id == self.registration.claim.id)
    }
}
