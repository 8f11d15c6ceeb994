//! The end of a run: save, fold when no other runner is active, write the
//! summary when all is done, and say how the run went.

use super::Pool;
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::model::Counts;
use crate::run::outcome::signal_name;
use crate::run::window::whole_counts;
use crate::runners::Liveness;
use crate::store::Refresh;

impl Pool<'_> {
    /// Save, fold when no other runner is active, write the summary when all
    /// is done, and pick the exit code.
    pub(in crate::run) fn conclude(mut self, liveness: &Liveness) -> Result<ExitCode> {
        let elapsed = crate::report::format_seconds(self.started_at.elapsed().as_secs_f64());
        let mut left = {
            let lock = self.store.lock()?;
            if let Refresh::Reloaded = self.store.refresh(&lock, &mut self.experiment, &mut self.cursor)? {
                self.window = None;
            }
            let alone = liveness.active_runners(Some(&self.registration.claim.id)).is_empty();
            self.store.sync()?;
            if alone && self.store.fold_due(&self.cursor, 0) {
                // Every ending is in the journal already: a fold that fails
                // (a read-only folder, a full disk) loses nothing.
                match self.make_whole(&lock).and_then(|()| self.store.fold(&lock, &mut self.experiment)) {
                    Ok(cursor) => self.cursor = cursor,
                    Err(err) => self.feedback.warn(&format!(
                        "every result is recorded in the journal, but it could not be folded into experiment.yaml ({err}); the next exp-add or exp-clean will"
                    )),
                }
            }
            // A window's run tells the whole experiment's counts, and reads
            // it whole only for the summary of an experiment all done.
            let whole = self.window.as_ref().map(|_| whole_counts(&self.store, &lock)).transpose()?;
            match whole {
                Some(counts) if counts.done == counts.total => self.make_whole(&lock)?,
                // Not all done: a summary left from before is out of date
                // (removed under the lock, before a last runner writes anew).
                Some(_) if self.stop.is_none() && self.queue.tally.done > 0 => {
                    if let Err(err) = crate::results::remove_summary_file(&self.store) {
                        self.feedback.say(&format!("cannot remove results_summary.csv: {err}"));
                    }
                }
                _ => {}
            }
            whole
        };
        // A stop signal while closing is still a stop: exit 128+N.
        self.handle_pending()?;
        // Reading every result may take a while: it is done outside the
        // lock, and the file written only if the state is still all done.
        let tally = self.queue.tally;
        let summary_is_new = tally.done > 0 || !self.store.dir().join(crate::results::SUMMARY_FILE).exists();
        if summary_is_new && self.stop.is_none() && self.window.is_none() {
            let updated = crate::results::update_summary_file(
                &mut self.store,
                &mut self.experiment,
                &mut self.cursor,
                true,
            );
            if let Err(err) = updated {
                self.feedback.say(&format!("cannot write results_summary.csv: {err}"));
            }
            self.handle_pending()?;
        }
        let selection = self.queue.selection();
        let left = left.get_or_insert_with(|| {
            let mut left = Counts::default();
            for (_, entry) in self.experiment.configs.iter().filter(|(name, _)| selection.contains(name)) {
                left.add(entry.status());
            }
            left
        });
        let ran = format!("{} done, {} failed", tally.done, tally.failed);
        if let Some(signal) = self.stop {
            self.feedback.finish(
                &format!(
                    "interrupted by {}: {} config(s) back to todo, state saved ({ran} in {elapsed})",
                    signal_name(signal),
                    tally.interrupted
                ),
                crate::color::caution(),
            );
            return Ok(ExitCode::interrupted(signal));
        }
        let brake = if self.queue.braked() { "; stopped early by --max-failures" } else { "" };
        let look = if tally.failed > 0 { crate::color::failed() } else { crate::color::done() };
        self.feedback.finish(
            &format!(
                "{ran} in {elapsed}{brake}; {} failed and {} todo in the selection",
                left.failed, left.todo
            ),
            look,
        );
        // Failures of earlier runs or of other runners are exp-status --check's business.
        Ok(ExitCode::failed_if(tally.failed > 0))
    }
}
