//! How commands and the run end: stop signals, timeouts, kills after
//! `--kill-after`, deferred judgements, leaving on an error, and the
//! closing (save, fold, summary, exit code); also a start that failed for
//! want of a resource (put back, back off) and warnings about results.

use super::{Backoff, Deferred, PendingKill, Pool, BACKOFF_FIRST, BACKOFF_MAX, IDLE_RECHECK, KILL_PROBE};
use crate::error::Result;
use crate::model::Ending;
use crate::model::Status;
use crate::run::leftovers::Leftovers;
use crate::run::outcome::{ended_with_result, judge, signal_name};
use crate::run::tally::Tally;
use crate::runners::{recover, recover_stale, Liveness};
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// What looking for other runners' dead claims found.
pub(super) enum Others {
    /// Claims taken back that this run may start.
    Recovered,
    /// Claims of another host's runner that has not beaten since: wait.
    Waiting,
    /// Nothing.
    None,
}

impl Pool<'_> {
    /// A warning about a config's result: said once, and kept in its record.
    pub(super) fn result_warning(&mut self, name: &str, warning: Option<String>) {
        let Some(warning) = warning else { return };
        let message = format!("{name}: {warning}");
        if crate::report::first_time(&message) {
            self.feedback.warn(&message);
        }
        self.result_warnings.insert(name.to_string(), warning);
    }

    /// A config that did not start goes back to the head of the queue, its
    /// try in this run not counted.
    pub(super) fn put_back(&mut self, name: &str) {
        if let Some(tries) = self.run_attempts.get_mut(name) {
            *tries -= 1;
            if *tries == 0 {
                self.run_attempts.remove(name);
                if self.tried.remove(name) {
                    self.started_configs -= 1;
                }
            }
        }
        self.queue.push_front(name.to_string());
        self.count_total();
    }

    /// Start nothing for a while, longer each time in a row; say why once.
    pub(super) fn back_off(&mut self, name: &str, err: &crate::error::Error) {
        let delay = self.backoff.map_or(BACKOFF_FIRST, |backoff| (backoff.delay * 2).min(BACKOFF_MAX));
        self.backoff = Some(Backoff { until: Instant::now() + delay, delay });
        if !self.backoff_said {
            self.backoff_said = true;
            self.feedback.warn(&format!(
                "cannot start {name}: {err}; {name} is back to todo, backing off and retrying (every {} at most)",
                humantime::format_duration(BACKOFF_MAX)
            ));
        }
    }

    /// Whether a resource error has launching on hold.
    pub(super) fn backing_off(&self) -> bool {
        self.backoff.is_some_and(|backoff| Instant::now() < backoff.until)
    }

    /// The first stop signal stops launching and asks every command to stop;
    /// a second one kills them at once.
    pub(super) fn signalled(&mut self, signal: i32) -> Result<()> {
        if self.stop.is_some() {
            self.feedback.say(&format!(
                "{}: killing {} command(s) now",
                signal_name(signal),
                self.running.len()
            ));
            for pgid in self.running.values().map(|slot| slot.pgid).chain(self.kills.iter().map(|k| k.pgid)) {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            return Ok(());
        }
        self.stop = Some(signal);
        if self.running.is_empty() {
            self.feedback.say(&format!("{}: stopping", signal_name(signal)));
        } else {
            self.feedback.say(&format!(
                "{}: stopping; asking {} running command(s) to stop (SIGTERM, then SIGKILL after {})",
                signal_name(signal),
                self.running.len(),
                humantime::format_duration(self.options.kill_after)
            ));
        }
        let groups: Vec<Pid> = self.running.values().map(|slot| slot.pgid).collect();
        for pgid in groups {
            self.terminate(pgid);
        }
        // One at a time, each leaving the list as it is recorded: the total
        // shown stays put.
        while !self.deferred.is_empty() {
            let Deferred { worker, name, attempt, seconds, ended, .. } = self.deferred.remove(0);
            self.record(worker, &name, attempt, Ending::Interrupted, seconds, ended)?;
        }
        Ok(())
    }

    /// SIGTERM a command's process group now, SIGKILL what is left of it later.
    pub(super) fn terminate(&mut self, pgid: Pid) {
        let _ = killpg(pgid, Signal::SIGTERM);
        self.kills.retain(|kill| kill.pgid != pgid);
        self.kills.push(PendingKill { pgid, at: Instant::now() + self.options.kill_after });
    }

    /// Timeouts, kills after `--kill-after`, and deferred judgements.
    pub(super) fn enforce_deadlines(&mut self) -> Result<()> {
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
        let leaders = &self.workers_by_pid;
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
        for pgid in done_with {
            // A config whose leader exited ends when the rest of its group is gone.
            let lingering = self.running.iter().find(|(_, slot)| slot.pgid == pgid && slot.exit.is_some());
            match lingering.map(|(&worker, slot)| (worker, slot.exit)) {
                Some((worker, Some((status, seconds, ended)))) => {
                    self.finish(worker, status, seconds, ended)?
                }
                _ if !self.workers_by_pid.contains_key(&pgid) => self.watchdog.forget(pgid),
                _ => {}
            }
        }
        while let Some(due) = self.deferred.iter().position(|d| now >= d.until) {
            let Deferred { worker, name, attempt, status, seconds, ended, .. } = self.deferred.remove(due);
            let files = self.store.config_files(&name);
            let (ending, warning) = ended_with_result(&files, judge(status, None), self.require_result);
            self.result_warning(&name, warning);
            self.record(worker, &name, attempt, ending, seconds, ended)?;
        }
        Ok(())
    }

    pub(super) fn next_wakeup(&self) -> Duration {
        let now = Instant::now();
        let deadlines = self.running.values().filter(|s| !s.timed_out).filter_map(|s| s.deadline);
        let deferred = self.deferred.iter().map(|d| d.until);
        let kills = self.kills.iter().map(|k| k.at);
        let mut wait = deadlines
            .chain(deferred)
            .chain(kills)
            .map(|t| t.saturating_duration_since(now))
            .min()
            .unwrap_or(IDLE_RECHECK);
        if !self.kills.is_empty() {
            // Group members other than the leader send no SIGCHLD: look again soon.
            wait = wait.min(KILL_PROBE);
        }
        if let Some(due) = self.store.sync_due() {
            wait = wait.min(due);
        }
        // Bars to refresh, a "still running" line: never off a terminal
        // unless --status-every asks.
        if let Some(due) = self.feedback.due() {
            wait = wait.min(due);
        }
        if !self.free.is_empty() && self.stop.is_none() {
            wait = wait.min(IDLE_RECHECK);
            if let Some(backoff) = self.backoff.filter(|_| self.backing_off()) {
                wait = wait.min(backoff.until.saturating_duration_since(now));
            }
        }
        wait
    }

    /// Nothing is left for us: recover claims of runners that died meanwhile.
    /// Returns whether that gave us more to do.
    pub(super) fn recover_others(&mut self) -> Result<Others> {
        let liveness = Liveness::new(&self.store, self.options.stale_after);
        let lock = self.store.lock()?;
        self.catch_up(&lock)?;
        let recovered =
            recover_stale(&mut self.store, &lock, &mut self.cursor, &mut self.experiment, &liveness)?;
        drop(lock);
        for event in &recovered {
            if self.claimable(&event.name, event.config.status) {
                self.queue.push_back(event.name.clone());
            }
        }
        self.nothing_claimable_at = None;
        let more = self
            .queue
            .iter()
            .any(|name| self.experiment.configs.get(name).is_some_and(|e| self.claimable(name, e.status())));
        if more {
            return Ok(Others::Recovered);
        }
        // A host lost near the end of a sweep: its claims are known to be
        // dead only once its heartbeat is stale, and leaving before would
        // leave them undone until some later runner starts. So wait for
        // each runner of another host that holds a claim in the selection
        // to beat once more (it lives: leave it be) or to go stale.
        let mut waiting: Vec<(String, String)> = Vec::new();
        for (name, entry) in &self.experiment.configs {
            if entry.status() != Status::Running || !self.selection.contains(name) {
                continue;
            }
            let Some(claim) = entry.get()?.runner.as_ref() else { continue };
            let Some(beat) = liveness.beat(claim) else { continue };
            let first = *self.beats_seen.entry(claim.id.clone()).or_insert(beat);
            if first == beat {
                waiting.push((name.clone(), claim.host.clone()));
            }
        }
        if waiting.is_empty() {
            return Ok(Others::None);
        }
        if !self.waiting_said {
            self.waiting_said = true;
            let hosts: std::collections::BTreeSet<&str> =
                waiting.iter().map(|(_, host)| host.as_str()).collect();
            let names = crate::report::first_few(waiting.iter().map(|(name, _)| name.clone()), 3);
            self.feedback.say(&format!(
                "nothing left to start; {} config(s) still run on {}: {names}; waiting for a heartbeat of their runner (taken over if none comes within --stale-after {})",
                waiting.len(),
                hosts.into_iter().collect::<Vec<_>>().join(", "),
                humantime::format_duration(self.options.stale_after)
            ));
        }
        Ok(Others::Waiting)
    }

    /// Leave on an error: kill every running command at once (a recovered
    /// claim must never run twice at once), and put their configs back to
    /// todo if the state can still be written.
    pub(in crate::run) fn abort(&mut self) {
        // The error itself is said once, by the caller.
        if !self.running.is_empty() {
            self.feedback.say(&format!(
                "stopping on an error: killing {} running command(s), their configs back to todo",
                self.running.len()
            ));
        }
        let slots = std::mem::take(&mut self.running);
        for slot in slots.values() {
            let _ = killpg(slot.pgid, Signal::SIGKILL);
        }
        for (pid, _) in std::mem::take(&mut self.workers_by_pid) {
            let _ = waitpid(pid, None);
        }
        let watchdog = self.watchdog.pid();
        for slot in slots.values() {
            Leftovers::end_group(slot.pgid);
            self.leftovers.kill_escaped(&slot.name, slot.pgid, |pid| pid == watchdog);
            self.watchdog.forget(slot.pgid);
        }
        let names: Vec<String> = slots.into_values().map(|slot| slot.name).collect();
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

    /// Save, fold when no other runner is active, write the summary when all
    /// is done, and pick the exit code.
    pub(in crate::run) fn conclude(mut self, liveness: &Liveness) -> Result<i32> {
        let elapsed = crate::report::format_seconds(self.started_at.elapsed().as_secs_f64());
        {
            let lock = self.store.lock()?;
            self.store.refresh(&lock, &mut self.experiment, &mut self.cursor)?;
            let alone = liveness.active_runners(Some(&self.registration.claim.id)).is_empty();
            self.store.sync()?;
            if alone && self.store.fold_due(&self.cursor, 0) {
                // Every ending is in the journal already: a fold that fails
                // (a read-only folder, a full disk) loses nothing.
                match self.store.fold(&lock, &mut self.experiment) {
                    Ok(cursor) => self.cursor = cursor,
                    Err(err) => self.feedback.warn(&format!(
                        "every result is recorded in the journal, but it could not be folded into experiment.yaml ({err}); the next exp-add or exp-clean will"
                    )),
                }
            }
        }
        // A stop signal while closing is still a stop: exit 128+N.
        self.handle_pending()?;
        // Reading every result may take a while: it is done outside the
        // lock, and the file written only if the state is still all done.
        let summary_is_new =
            self.tally.done > 0 || !self.store.dir().join(crate::results::SUMMARY_FILE).exists();
        if summary_is_new && self.stop.is_none() {
            let kept = crate::results::update_summary_file(
                &mut self.store,
                &mut self.experiment,
                &mut self.cursor,
                true,
            );
            if let Err(err) = kept {
                self.feedback.say(&format!("cannot write results_summary.csv: {err}"));
            }
            self.handle_pending()?;
        }
        let selected = |name: &str| self.selection.contains(name);
        let failed = self
            .experiment
            .configs
            .iter()
            .filter(|(n, e)| e.status() == Status::Failed && selected(n))
            .count();
        let todo =
            self.experiment.configs.iter().filter(|(n, e)| e.status() == Status::Todo && selected(n)).count();
        let Tally { done, interrupted, .. } = self.tally;
        let ran = format!("{done} done, {} failed", self.tally.failed);
        if let Some(signal) = self.stop {
            self.feedback.finish(
                &format!(
                    "interrupted by {}: {interrupted} config(s) back to todo, state saved ({ran} in {elapsed})",
                    signal_name(signal)
                ),
                crate::color::caution(),
            );
            return Ok(128 + signal);
        }
        let brake = if self.braked() { "; stopped early by --max-failures" } else { "" };
        let look = if self.tally.failed > 0 { crate::color::failed() } else { crate::color::done() };
        self.feedback.finish(
            &format!("{ran} in {elapsed}{brake}; {failed} failed and {todo} todo in the selection"),
            look,
        );
        // Failures of earlier runs or of other runners are exp-status --check's business.
        Ok(i32::from(self.tally.failed > 0))
    }
}
