//! Claims held by runners of other hosts, once a run is out of work. A
//! host lost near the end of a sweep is known to be dead only once its
//! runner's heartbeat is stale, and leaving before would leave its configs
//! undone until some later runner starts. So a run with nothing left waits
//! for each runner of another host that holds a claim in its selection to
//! beat once more (it lives: leave it be) or to go stale (its claims are
//! taken over).

use crate::error::Result;
use crate::model::{Experiment, Status};
use crate::runners::Liveness;
use crate::select::Selection;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

#[derive(Debug, Default)]
pub struct Elsewhere {
    /// The heartbeat of each such runner as first seen, by runner.
    beats_seen: HashMap<String, SystemTime>,
    /// Whether the wait was said.
    said: bool,
}

impl Elsewhere {
    /// The configs of the selection whose runner, on another host, has not
    /// beaten since we first looked, with that host.
    pub fn waiting(
        &mut self,
        experiment: &Experiment,
        selection: &Selection,
        liveness: &Liveness,
    ) -> Result<Vec<(String, String)>> {
        let mut waiting = Vec::new();
        for (name, entry) in &experiment.configs {
            if entry.status() != Status::Running || !selection.contains(name) {
                continue;
            }
            let Some(claim) = entry.get()?.runner.as_ref() else { continue };
            let Some(beat) = liveness.beat(claim) else { continue };
            let first = *self.beats_seen.entry(claim.id.clone()).or_insert(beat);
            if first == beat {
                waiting.push((name.clone(), claim.host.clone()));
            }
        }
        Ok(waiting)
    }

    /// What to say of the wait, the first time only.
    pub fn say_once(&mut self, waiting: &[(String, String)], stale_after: Duration) -> Option<String> {
        if std::mem::replace(&mut self.said, true) {
            return None;
        }
        let hosts: BTreeSet<&str> = waiting.iter().map(|(_, host)| host.as_str()).collect();
        let names = crate::report::first_few(waiting.iter().map(|(name, _)| name.clone()), 3);
        Some(format!(
            "nothing left to start; {} config(s) still run on {}: {names}; waiting for a heartbeat of their runner (taken over if none comes within --stale-after {})",
            waiting.len(),
            hosts.into_iter().collect::<Vec<_>>().join(", "),
            humantime::format_duration(stale_after)
        ))
    }
}
