//! The pool: the loop that glues a run's queue ([`super::queue`]), its
//! workers ([`super::workers`]) and the store. It claims the next config
//! under the lock, starts it in a free slot, and records each ending.
//!
//! It is driven by signals (`events`): SIGCHLD makes the loop reap every
//! exited command, SIGINT/SIGTERM/SIGHUP stop the run. It waits in `poll`
//! with a timeout set by the nearest deadline, so a freed slot is refilled
//! as soon as the exit is reaped, with no polling sleeps. Feedback adds
//! deadlines of its own: four a second to redraw the bars on a terminal,
//! one per `--status-every` off it, none otherwise. Every status change is
//! one journal append under the lock, written before the runner moves on.

mod conclude;

use super::backoff::Backoff;
use super::devices::Held;
use super::elsewhere::Elsewhere;
use super::events::{self, Events};
use super::feedback::Feedback;
use super::follow::{Following, Idle};
use super::leftovers::Leftovers;
use super::outcome::{capture_result, died_of_stop_signal, ended_with_result, judge, signal_name};
use super::queue::{Bounds, Queue};
use super::resources::Resources;
use super::spawn::{Launcher, NotStarted};
use super::watchdog::Watchdog;
use super::window::Window;
use super::workers::{Ended, Workers};
use super::Options;
use crate::error::{Kind, Result};
use crate::model::{Claim, Ending, Experiment, Status};
use crate::runners::{recover, recover_stale, Liveness, Registration};
use crate::select::Selection;
use crate::store::journal::Event;
use crate::store::lock::Lock;
use crate::store::{Cursor, Refresh, Store};
use crate::time::Timestamp;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long to wait before asking the journal again when nothing was claimable.
const IDLE_RECHECK: Duration = Duration::from_secs(1);

/// What looking for other runners' dead claims found.
enum Others {
    /// Claims taken back that this run may start.
    Recovered,
    /// Claims of another host's runner that has not beaten since: wait.
    Waiting,
    /// Nothing.
    None,
}

pub(super) struct Pool<'a> {
    store: Store,
    experiment: Experiment,
    cursor: Cursor,
    options: &'a Options,
    launcher: Launcher,
    registration: Registration,
    events: Events,
    queue: Queue,
    workers: Workers<'a>,
    feedback: Feedback,
    /// The first stop signal, once one came.
    stop: Option<i32>,
    started_at: Instant,
    nothing_claimable_at: Option<Instant>,
    backoff: Backoff,
    /// `--follow`: the wait for configs added while it runs.
    following: Option<Following>,
    /// `--require-result`, or the experiment's own.
    require_result: bool,
    /// Warnings about results, by config, until they are recorded.
    result_warnings: HashMap<String, String>,
    /// Claims held by runners of other hosts, watched once out of work.
    elsewhere: Elsewhere,
    /// `--devices`, `--memfree`: what a config waits for besides a worker.
    resources: Resources,
    /// A big experiment's configs read a window at a time; None once whole.
    window: Option<Window>,
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
        resources: Resources,
        window: Option<Window>,
    ) -> Pool<'a> {
        let jobs = options.jobs.max(1);
        let leftovers = Leftovers::new(&registration.claim.id);
        let bounds =
            Bounds { limit: options.limit, retries: options.retries, max_failures: options.max_failures };
        let require_result = options.require_result || experiment.require_result();
        Pool {
            store,
            experiment,
            cursor,
            options,
            launcher,
            registration,
            events,
            queue: Queue::new(selection, bounds),
            workers: Workers::new(jobs, watchdog, leftovers, options.timeout, options.kill_after),
            feedback: Feedback::new(
                options.progress,
                options.json,
                options.quiet,
                jobs,
                options.status_every,
            ),
            stop: None,
            started_at: Instant::now(),
            nothing_claimable_at: None,
            backoff: Backoff::default(),
            following: options.follow.map(Following::new),
            require_result,
            result_warnings: HashMap::new(),
            elsewhere: Elsewhere::default(),
            resources,
            window,
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
                if entry.status() == Status::Failed && self.queue.selection().contains(name) {
                    let config = entry.get_mut()?;
                    config.reset();
                    events.push(Event { name: name.clone(), config: config.clone() });
                }
            }
            self.store.append(lock, &mut self.cursor, &events)?;
        }
        // The queue first, so these lines show the run's total.
        self.fill_queue();
        if !recovered.is_empty() {
            self.feedback.say(&format!(
                "{} config(s) left running by runners that are gone are back to todo",
                recovered.len()
            ));
        }
        if let Some(skipped) = self.queue.skipped_names(self.status_of()) {
            self.feedback.say(&skipped);
        }
        Ok(())
    }

    fn fill_queue(&mut self) {
        self.queue.fill(self.experiment.configs.iter().map(|(name, entry)| (name, entry.status())));
        self.queue.set_unread(self.window.as_ref().map_or(0, Window::todo_beyond));
        self.count_total();
    }

    /// Tell the feedback how many configs this run knows of.
    fn count_total(&mut self) {
        self.feedback.set_total(self.queue.known(self.workers.in_flight()));
    }

    /// The status of each config now, as the queue asks for it.
    fn status_of(&self) -> impl Fn(&str) -> Option<Status> + '_ {
        |name| self.experiment.configs.get(name).map(|entry| entry.status())
    }

    /// The main loop: launch while slots are free, then wait for the next event.
    pub(super) fn work(&mut self) -> Result<()> {
        loop {
            // A signal that came before (or while) we were busy wins over launching.
            self.handle_pending()?;
            if self.stop.is_none() && !self.workers.judging() {
                self.launch()?;
            }
            if !self.workers.idle() {
                if let Some(following) = &mut self.following {
                    following.busy();
                }
            } else if self.stop.is_some() || !self.may_start_more() {
                return Ok(());
            } else if !self.backoff.active() && !self.resources.waiting() {
                // Backing off, waiting for another host's runner to show it
                // lives, or following: there may be more to do; wait below.
                match self.look_for_more()? {
                    Others::Recovered => continue,
                    Others::Waiting => {}
                    Others::None => return Ok(()),
                }
            }
            let timeout = self.next_wakeup();
            for event in self.events.wait(timeout) {
                self.handle(event)?;
            }
            for worker in self.workers.enforce_deadlines() {
                if let Some(ended) = self.workers.finish(worker) {
                    self.judge(ended)?;
                }
            }
            while let Some(ended) = self.workers.next_due() {
                self.judge_now(ended)?;
            }
            self.feedback.tick(self.queue.tally);
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
            events::Event::Signal(signal_hook::consts::SIGCHLD) => {
                while let Some(ended) = self.workers.reap_next() {
                    self.judge(ended)?;
                }
                Ok(())
            }
            events::Event::Signal(signal) => self.signalled(signal),
            // `--interactive`: list the running configs and take a snapshot.
            events::Event::Enter => {
                let said = super::interactive::running_here(&mut self.store, self.workers.describe());
                self.feedback.say(&said);
                Ok(())
            }
        }
    }

    /// Whether a new config may start: the queue's bounds, and `--stop-after`.
    fn may_start_more(&self) -> bool {
        self.queue.may_start_more()
            && self.options.stop_after.is_none_or(|limit| self.started_at.elapsed() < limit)
    }

    fn launch(&mut self) -> Result<()> {
        if self.nothing_claimable_at.is_some_and(|at| at.elapsed() < self.recheck())
            || self.resources.retry_in().is_some_and(|wait| !wait.is_zero())
        {
            return Ok(());
        }
        while let Some(worker) = self.workers.free_slot() {
            // Commands that fail to start free their slot at once: a stop
            // signal must still be heard between them.
            self.handle_pending()?;
            if self.stop.is_some()
                || self.queue.braked()
                || self.backoff.active()
                || (!self.may_start_more() && !self.queue.has_retries())
            {
                return Ok(());
            }
            let claimed = self.claim(worker);
            if !matches!(claimed, Ok(Some(_))) {
                // Queued configs that were no longer claimable are gone from the count.
                self.count_total();
            }
            self.feedback.waiting(self.resources.why());
            let Some((name, attempt, devices)) = claimed? else {
                if !self.resources.waiting() {
                    self.nothing_claimable_at = Some(Instant::now());
                }
                return Ok(());
            };
            self.start(worker, name, attempt, devices)?;
        }
        Ok(())
    }

    /// Read what other processes wrote since last time (under the lock),
    /// queueing configs that became todo. Every append follows one, so it
    /// is always made in the current journal epoch.
    fn catch_up(&mut self, lock: &Lock) -> Result<()> {
        match self.store.refresh(lock, &mut self.experiment, &mut self.cursor)? {
            Refresh::Events(events) => {
                for event in events.into_iter().filter(|event| event.config.status == Status::Todo) {
                    self.queue.push(event.name);
                }
            }
            Refresh::Reloaded => {
                // Read whole: the state file was rewritten.
                self.window = None;
                self.fill_queue();
            }
        }
        self.widen_if_dry(lock)?;
        self.count_total();
        Ok(())
    }

    /// With a window and nothing queued: read the next configs. Whether
    /// some may be left to read.
    fn widen_if_dry(&mut self, lock: &Lock) -> Result<bool> {
        let Some(window) = self.window.as_mut().filter(|_| self.queue.may_start_more()) else {
            return Ok(false);
        };
        if !self.queue.has_todo() {
            for name in window.widen(&self.store, lock, &mut self.experiment)? {
                self.queue.push(name);
            }
        }
        self.queue.set_unread(window.todo_beyond());
        Ok(window.todo_beyond() > 0 || self.queue.has_todo())
    }

    /// Read the whole state, if only a window of it was: what a fold and
    /// the summary need.
    fn make_whole(&mut self, lock: &Lock) -> Result<()> {
        if self.window.take().is_some() {
            (self.experiment, self.cursor) = self.store.load(lock)?;
            self.fill_queue();
        }
        Ok(())
    }

    /// Take the next config under the lock, reading what other processes
    /// wrote since last time, with the devices it holds. Retries of this
    /// run come first. None when there is none, or it waits for resources.
    fn claim(&mut self, worker: usize) -> Result<Option<(String, u32, Option<Held>)>> {
        // Outside the lock: git is asked again only when HEAD or the index changed.
        let commit = self.launcher.refresh_provenance()?;
        let lock = self.store.lock()?;
        self.catch_up(&lock)?;
        let fresh = self.options.stop_after.is_none_or(|limit| self.started_at.elapsed() < limit);
        let name = loop {
            let status_of = |name: &str| self.experiment.configs.get(name).map(|entry| entry.status());
            match self.queue.next(fresh, status_of) {
                Some(name) => break name,
                // Others took the window's configs: the next ones, then.
                None if fresh && self.widen_if_dry(&lock)? => {}
                None => {
                    self.resources.idle();
                    return Ok(None);
                }
            }
        };
        let Some(devices) = self.resources.admit() else {
            self.queue.unnext(name);
            return Ok(None);
        };
        let config = self.experiment.configs.get_mut(&name).expect("queued from the state").get_mut()?;
        let list = devices.as_ref().map(|held| held.list().to_string());
        let claim = Claim { worker: Some(worker), devices: list, ..self.registration.claim.clone() };
        let attempt = config.claim(claim, commit, Timestamp::now());
        let event = Event { name: name.clone(), config: config.clone() };
        self.store.append(&lock, &mut self.cursor, &[event])?;
        self.queue.started(&name);
        Ok(Some((name, attempt, devices)))
    }

    fn start(&mut self, worker: usize, name: String, attempt: u32, devices: Option<Held>) -> Result<()> {
        let now = Timestamp::now();
        let spawned =
            self.launcher.spawn(&self.store, &self.experiment, &name, attempt, worker, devices.as_ref());
        let child = match spawned {
            Ok(child) => child,
            // Out of open files, processes or memory: no fault of the
            // config, and it may pass. Back to todo, and try again.
            Err(NotStarted::Runner(err)) if err.kind == Kind::Resource => {
                self.record(worker, &name, attempt, Ending::NotStarted, 0.0, now)?;
                self.queue.put_back(&name);
                self.count_total();
                self.back_off(&name, &err);
                return Ok(());
            }
            // A full or read-only disk, a folder not ours to write or that
            // is a symlink: no fault of the config either. The run stops,
            // the config back to todo, rather than fail them all.
            Err(NotStarted::Runner(err)) => {
                let _ = self.record(worker, &name, attempt, Ending::NotStarted, 0.0, now);
                return Err(
                    err.context(format!("cannot prepare {name}'s folder ({name} is back to todo); stopping, nothing more is started"))
                );
            }
            Err(NotStarted::Command(err)) => {
                let files = self.store.config_files(&name);
                self.feedback.started(&name, attempt, worker, files, None, self.queue.tally);
                let ending = Ending::Failed { exit_code: None, signal: None, error: err.message };
                return self.record(worker, &name, attempt, ending, 0.0, now);
            }
        };
        self.backoff.clear();
        self.resources.started();
        // Reaped by the workers on SIGCHLD, by pid.
        let pgid = Pid::from_raw(child.id() as i32);
        drop(child);
        let list = devices.as_ref().map(|held| held.list().to_string());
        // The slot holds the devices until every process of the config is gone.
        self.workers.occupy(worker, &name, attempt, pgid, devices);
        self.queue.tally.running = self.workers.running();
        self.count_total();
        let files = self.store.config_files(&name);
        self.feedback.started(&name, attempt, worker, files, list.as_deref(), self.queue.tally);
        Ok(())
    }

    /// A config's command is gone, every process of it: judge its ending
    /// (a death by a stop signal waits a moment, in case we are stopped
    /// too), capture its result, and record it.
    fn judge(&mut self, ended: Ended) -> Result<()> {
        self.queue.tally.running = self.workers.running();
        self.nothing_claimable_at = None;
        self.resources.retry_now();
        if ended.timed_out {
            let ending = judge(ended.exit.status, self.options.timeout);
            return self.record_with_result(ended, ending);
        }
        if self.stop.is_some() {
            // Asked to stop, a command that saves a checkpoint and exits 0
            // has not finished: done only with exit 0 and a result.
            let captured = capture_result(&self.store.config_files(&ended.name));
            let finished = ended.exit.status.success() && captured.result.is_some();
            self.result_warning(&ended.name, captured.warning.filter(|_| finished));
            let ending = if finished { Ending::Done } else { Ending::Interrupted };
            let Ended { worker, name, attempt, exit, .. } = ended;
            return self.record(worker, &name, attempt, ending, exit.seconds, exit.ended);
        }
        if died_of_stop_signal(ended.exit.status) {
            // Slurm and scancel signal every process of the job.
            self.workers.defer(ended);
            return Ok(());
        }
        self.judge_now(ended)
    }

    /// Judge an ending by its exit status alone.
    fn judge_now(&mut self, ended: Ended) -> Result<()> {
        let ending = judge(ended.exit.status, None);
        self.record_with_result(ended, ending)
    }

    /// Capture the result an ending left (with its warning), then record it.
    fn record_with_result(&mut self, ended: Ended, ending: Ending) -> Result<()> {
        let files = self.store.config_files(&ended.name);
        let (ending, warning) = ended_with_result(&files, ending, self.require_result);
        self.result_warning(&ended.name, warning);
        let Ended { worker, name, attempt, exit, .. } = ended;
        self.record(worker, &name, attempt, ending, exit.seconds, exit.ended)
    }

    /// A warning about a config's result: said once, and kept in its record.
    fn result_warning(&mut self, name: &str, warning: Option<String>) {
        let Some(warning) = warning else { return };
        let message = format!("{name}: {warning}");
        if crate::report::first_time(&message) {
            self.feedback.warn(&message);
        }
        self.result_warnings.insert(name.to_string(), warning);
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
        let event = Event { name: name.to_string(), config: config.clone() };
        self.store.append(&lock, &mut self.cursor, &[event])?;
        if self.store.journal_outgrew_state(&self.cursor, 0) {
            // A checkpoint: the journal of a long run on a big experiment
            // stays a fraction of its state. Every ending is in the journal
            // already, so a fold that fails loses nothing.
            self.store.sync()?;
            match self.make_whole(&lock).and_then(|()| self.store.fold(&lock, &mut self.experiment)) {
                Ok(cursor) => self.cursor = cursor,
                Err(err) => self.feedback.warn(&format!("could not fold the journal: {err}")),
            }
        }
        drop(lock);
        let verdict = self.queue.ended(name, &ending, self.stop.is_some());
        self.count_total();
        if ending == Ending::NotStarted {
            // Nothing was started, so there is nothing to tell of its end.
            return Ok(());
        }
        let tally = self.queue.tally;
        self.feedback.ended(name, attempt, worker, &ending, seconds, tally);
        if verdict.retry {
            let tries = self.queue.tries(name);
            self.feedback.retrying(name, tries + 1, self.queue.most_tries(), tally);
        } else if verdict.braking {
            self.feedback.say(&format!(
                "{} config(s) failed: --max-failures reached, launching nothing more ({} still running)",
                tally.failed,
                self.workers.running()
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

    /// Start nothing for a while, longer each time in a row; say why once.
    fn back_off(&mut self, name: &str, err: &crate::error::Error) {
        if self.backoff.hit() {
            self.feedback.warn(&format!(
                "cannot start {name}: {err}; {name} is back to todo, backing off and retrying (every {} at most)",
                humantime::format_duration(super::backoff::MAX)
            ));
        }
    }

    /// How long to wait before asking the journal again when nothing was
    /// claimable: shorter when following, so a config added starts soon.
    fn recheck(&self) -> Duration {
        match self.following {
            Some(_) => super::follow::RECHECK,
            None => IDLE_RECHECK,
        }
    }

    /// Out of work: look for claims of runners that died meanwhile (now and
    /// then when following), wait for those of other hosts, or for configs
    /// to be added (`--follow`), or find there is nothing more.
    fn look_for_more(&mut self) -> Result<Others> {
        let Some(following) = &mut self.following else {
            return self.recover_others();
        };
        match following.idle(Instant::now()) {
            Idle::Exit => return Ok(Others::None),
            Idle::Wait => {}
            Idle::Recover => {
                if let Others::Recovered = self.recover_others()? {
                    return Ok(Others::Recovered);
                }
            }
        }
        if let Some(said) = self.following.as_mut().and_then(Following::say_once) {
            self.feedback.say(&said);
        }
        Ok(Others::Waiting)
    }

    fn next_wakeup(&self) -> Duration {
        let mut wait = self.workers.next_deadline().unwrap_or(IDLE_RECHECK);
        if let Some(due) = self.store.sync_due() {
            wait = wait.min(due);
        }
        // Bars to refresh, a "still running" line: never off a terminal
        // unless --status-every asks.
        if let Some(due) = self.feedback.due() {
            wait = wait.min(due);
        }
        if self.workers.has_free() && self.stop.is_none() {
            wait = wait.min(self.recheck());
            for left in [self.backoff.remaining(), self.resources.retry_in()].into_iter().flatten() {
                wait = wait.min(left);
            }
        }
        wait
    }

    /// Nothing is left for us: recover claims of runners that died meanwhile,
    /// or wait for another host's runner that holds some to show it lives.
    fn recover_others(&mut self) -> Result<Others> {
        let liveness = Liveness::new(&self.store, self.options.stale_after);
        let lock = self.store.lock()?;
        self.catch_up(&lock)?;
        let recovered =
            recover_stale(&mut self.store, &lock, &mut self.cursor, &mut self.experiment, &liveness)?;
        drop(lock);
        for event in recovered {
            if self.queue.claimable(&event.name, event.config.status) {
                self.queue.push(event.name);
            }
        }
        self.nothing_claimable_at = None;
        if self.queue.any_claimable(self.status_of()) {
            return Ok(Others::Recovered);
        }
        let selection = self.queue.selection();
        let waiting = self.elsewhere.waiting(&self.experiment, selection, &liveness)?;
        if waiting.is_empty() {
            return Ok(Others::None);
        }
        if let Some(said) = self.elsewhere.say_once(&waiting, self.options.stale_after) {
            self.feedback.say(&said);
        }
        Ok(Others::Waiting)
    }

    /// The first stop signal stops launching and asks every command to stop;
    /// a second one kills them at once.
    fn signalled(&mut self, signal: i32) -> Result<()> {
        let running = self.workers.running();
        if self.stop.is_some() {
            self.feedback.say(&format!("{}: killing {running} command(s) now", signal_name(signal)));
            self.workers.kill_all();
            return Ok(());
        }
        self.stop = Some(signal);
        if running == 0 {
            self.feedback.say(&format!("{}: stopping", signal_name(signal)));
        } else {
            self.feedback.say(&format!(
                "{}: stopping; asking {running} running command(s) to stop (SIGTERM, then SIGKILL after {})",
                signal_name(signal),
                humantime::format_duration(self.options.kill_after)
            ));
        }
        self.workers.terminate_all();
        // One at a time, each leaving the list as it is recorded: the total
        // shown stays put.
        while let Some(Ended { worker, name, attempt, exit, .. }) = self.workers.next_deferred() {
            self.record(worker, &name, attempt, Ending::Interrupted, exit.seconds, exit.ended)?;
        }
        Ok(())
    }

    /// Leave on an error: kill every running command at once (a recovered
    /// claim must never run twice at once), and put their configs back to
    /// todo if the state can still be written.
    pub(super) fn abort(&mut self) {
        // The error itself is said once, by the caller.
        let running = self.workers.running();
        if running > 0 {
            self.feedback.say(&format!(
                "stopping on an error: killing {running} running command(s), their configs back to todo"
            ));
        }
        let names = self.workers.abort();
        // Best effort: the error may be that the state cannot be written.
        let _ = (|| -> Result<()> {
            let lock = self.store.lock()?;
            self.catch_up(&lock)?;
            let names: Vec<String> = names.into_iter().filter(|name| self.holds(name)).collect();
            recover(&mut self.store, &lock, &mut self.cursor, &mut self.experiment, &names)?;
            Ok(())
        })();
        self.feedback.finish("stopped on an error", crate::color::failed());
    }
}
