//! What changed, config by config: the records as last told, compared with
//! each new one the journal or a rewritten state file brings, so that each
//! change is told once and every attempt's ending exactly once.
//!
//! A change is told when a config's status, attempts, start or end time
//! differ from its last told record. The journal's events are taken one by
//! one, in order, so nothing between two looks is lost. Across a fold (the
//! state file rewritten, the journal restarted), the lines not read yet come
//! from the journals the folds kept ([`crate::store::kept`]), then each
//! config of the new state file is compared with its record. Were those
//! gone, only each config's latest record would tell what happened: a
//! start between two looks may then be coalesced into the ending that
//! followed it, but an ending is told whenever a record ends an attempt not
//! told as ended, whatever was missed before it. An ended attempt (its
//! attempts and start time) is never told twice.

use crate::error::Result;
use crate::model::{Config, Experiment, Status};
use crate::store::journal::Event;
use crate::store::Changes;
use std::fmt;
use std::str::FromStr;

/// A status as a watch tells it: a config's, or `removed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStatus {
    Is(Status),
    Removed,
}

impl WatchStatus {
    pub const ALL: [WatchStatus; 5] = [
        WatchStatus::Is(Status::Todo),
        WatchStatus::Is(Status::Running),
        WatchStatus::Is(Status::Done),
        WatchStatus::Is(Status::Failed),
        WatchStatus::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WatchStatus::Is(status) => status.as_str(),
            WatchStatus::Removed => "removed",
        }
    }
}

impl fmt::Display for WatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WatchStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<WatchStatus, String> {
        WatchStatus::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| {
            format!("unknown status {s:?} (expected todo, running, done, failed or, with --watch, removed)")
        })
    }
}

/// One change of one config.
#[derive(Debug, Clone)]
pub struct Change {
    pub name: String,
    /// Its status before; None when it was added.
    pub before: Option<Status>,
    pub after: WatchStatus,
    /// Its record after the change; a removed config's last known one.
    pub config: Config,
}

/// The configs as last told.
pub struct Tracker {
    experiment: Experiment,
}

impl Tracker {
    /// Start from `experiment`, as listed.
    pub fn new(experiment: Experiment) -> Tracker {
        Tracker { experiment }
    }

    pub fn experiment(&self) -> &Experiment {
        &self.experiment
    }

    /// Take in what a look at the store found; the changes, in order.
    pub fn apply(&mut self, changes: Changes) -> Result<Vec<Change>> {
        let mut told = Vec::new();
        let events = match changes {
            Changes::Events(events) => events,
            Changes::Rewritten { unread, state, events } => {
                self.events(unread, &mut told)?;
                self.rewritten(*state, &mut told)?;
                events
            }
        };
        self.events(events, &mut told)?;
        Ok(told)
    }

    /// Journal events, each compared with the record before it.
    fn events(&mut self, events: Vec<Event>, told: &mut Vec<Change>) -> Result<()> {
        for Event { name, config } in events {
            let before = match self.experiment.configs.get(&name) {
                Some(entry) => Some(entry.read()?.into_owned()),
                None => None,
            };
            if let Some(change) = compare(&name, before.as_ref(), &config) {
                told.push(change);
            }
            self.experiment.configs.insert(name, config.into());
        }
        Ok(())
    }

    /// The state file was rewritten: compare each of its configs with the
    /// one last told (a line left as it was is unchanged: a fold copies the
    /// text of configs it did not change); those it lacks were removed.
    fn rewritten(&mut self, state: Experiment, told: &mut Vec<Change>) -> Result<()> {
        let old = std::mem::replace(&mut self.experiment, state);
        for (name, entry) in &self.experiment.configs {
            let Some(before) = old.configs.get(name) else {
                told.extend(compare(name, None, &*entry.read()?));
                continue;
            };
            if before.text().is_some() && before.text() == entry.text() {
                continue;
            }
            let (before, after) = (before.read()?, entry.read()?);
            if before.params != after.params {
                // Removed, and another config added under its name.
                told.push(removed(name, before.into_owned()));
                told.extend(compare(name, None, &after));
            } else {
                told.extend(compare(name, Some(&before), &after));
            }
        }
        for (name, entry) in &old.configs {
            if !self.experiment.configs.contains_key(name) {
                told.push(removed(name, entry.read()?.into_owned()));
            }
        }
        Ok(())
    }
}

fn removed(name: &str, config: Config) -> Change {
    Change { name: name.to_string(), before: Some(config.status), after: WatchStatus::Removed, config }
}

/// The change from `before` (None: not there) to `after`, if it is one.
fn compare(name: &str, before: Option<&Config>, after: &Config) -> Option<Change> {
    let changed = match before {
        None => true,
        Some(before) if ends(after) => !(ends(before) && attempt(before) == attempt(after)),
        Some(before) => moment(before) != moment(after),
    };
    changed.then(|| Change {
        name: name.to_string(),
        before: before.map(|config| config.status),
        after: WatchStatus::Is(after.status),
        config: after.clone(),
    })
}

/// Whether the record ends an attempt.
fn ends(config: &Config) -> bool {
    matches!(config.status, Status::Done | Status::Failed)
}

/// What identifies an attempt: its number and its start.
fn attempt(config: &Config) -> (u32, Option<crate::time::Timestamp>) {
    (config.attempts, config.start_time)
}

/// Where a config stands in its life: a change of any of these is told.
fn moment(config: &Config) -> (Status, u32, Option<crate::time::Timestamp>, Option<crate::time::Timestamp>) {
    (config.status, config.attempts, config.start_time, config.end_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Claim, Ending, Entry, Params};
    use crate::time::Timestamp;

    fn params(i: i64) -> Params {
        serde_json::json!({ "i": i }).as_object().unwrap().clone()
    }

    fn claim() -> Claim {
        Claim { id: "h-1-abc".into(), host: "h".into(), pid: 1, worker: Some(0), devices: None }
    }

    fn experiment(configs: &[(&str, &Config)]) -> Experiment {
        let mut experiment = Experiment::default();
        for (name, config) in configs {
            experiment.configs.insert(name.to_string(), Entry::new((*config).clone()));
        }
        experiment
    }

    fn events(of: &[(&str, &Config)]) -> Changes {
        Changes::Events(of.iter().map(|(n, c)| Event { name: n.to_string(), config: (*c).clone() }).collect())
    }

    fn told(changes: &[Change]) -> Vec<(String, Option<Status>, WatchStatus)> {
        changes.iter().map(|c| (c.name.clone(), c.before, c.after)).collect()
    }

    /// `config` after a new attempt that ended `ending`, a second apart.
    fn ran(config: &Config, ending: &Ending, started: i64) -> (Config, Config) {
        let start = Timestamp(chrono::DateTime::from_timestamp(started, 0).unwrap().into());
        let mut running = config.clone();
        running.claim(claim(), None, start);
        let mut ended = running.clone();
        let end = Timestamp(chrono::DateTime::from_timestamp(started + 1, 0).unwrap().into());
        ended.finish(ending, end, None);
        (running, ended)
    }

    #[test]
    fn each_event_is_compared_with_the_record_before_it() {
        let todo = Config::new(params(0));
        let mut tracker = Tracker::new(experiment(&[("a", &todo)]));
        let (running, done) = ran(&todo, &Ending::Done, 10);
        let mut reset = done.clone();
        reset.reset();
        let added = Config::new(params(1));
        let changes = tracker
            .apply(events(&[("a", &running), ("a", &done), ("b", &added), ("a", &reset), ("a", &reset)]))
            .unwrap();
        let (todo_, running_, done_) = (Status::Todo, Status::Running, Status::Done);
        assert_eq!(
            told(&changes),
            [
                ("a".into(), Some(todo_), WatchStatus::Is(running_)),
                ("a".into(), Some(running_), WatchStatus::Is(done_)),
                ("b".into(), None, WatchStatus::Is(todo_)),
                ("a".into(), Some(done_), WatchStatus::Is(todo_)),
            ]
        );
    }

    #[test]
    fn a_fold_between_two_looks_still_tells_every_ending_and_every_removal() {
        let todo = Config::new(params(0));
        let other = Config::new(params(1));
        let (a_running, _) = ran(&todo, &Ending::Done, 10);
        let gone = Config::new(params(2));
        let mut tracker = Tracker::new(experiment(&[("a", &a_running), ("b", &other), ("gone", &gone)]));
        // Between two looks: a ended; b started and failed; gone removed;
        // "gone" came back as another config; c added, ran and ended.
        let (_, a_done) = ran(&todo, &Ending::Done, 10);
        let failed = Ending::Failed { exit_code: Some(3), signal: None, error: "exit code 3".into() };
        let (_, b_failed) = ran(&other, &failed, 20);
        let (_, c_done) = ran(&Config::new(params(3)), &Ending::Done, 30);
        let again = Config::new(params(4));
        let state = experiment(&[("a", &a_done), ("b", &b_failed), ("gone", &again)]);
        let changes = tracker.apply(Changes::Rewritten {
            unread: vec![],
            state: Box::new(state),
            events: vec![Event { name: "c".into(), config: c_done }],
        });
        let (running, done, failed) = (Status::Running, Status::Done, Status::Failed);
        assert_eq!(
            told(&changes.unwrap()),
            [
                ("a".into(), Some(running), WatchStatus::Is(done)),
                ("b".into(), Some(Status::Todo), WatchStatus::Is(failed)),
                ("gone".into(), Some(Status::Todo), WatchStatus::Removed),
                ("gone".into(), None, WatchStatus::Is(Status::Todo)),
                ("c".into(), None, WatchStatus::Is(done)),
            ]
        );
        // Told once: the same records again are no change.
        let state = tracker.experiment().clone();
        assert!(tracker
            .apply(Changes::Rewritten { unread: vec![], state: Box::new(state), events: vec![] })
            .unwrap()
            .is_empty());
    }

    #[test]
    fn an_ended_attempt_is_told_once_and_the_next_one_again() {
        let todo = Config::new(params(0));
        let (_, done) = ran(&todo, &Ending::Done, 10);
        let mut tracker = Tracker::new(experiment(&[("a", &done)]));
        // The same attempt's ending, however its record reads, is not news.
        let mut again = done.clone();
        again.end_time = None;
        assert!(tracker.apply(events(&[("a", &again)])).unwrap().is_empty());
        // A retry that ran and ended between two looks, after a fold: its
        // start is coalesced into its ending, told.
        let (_, retried) = ran(&done, &Ending::Done, 50);
        let state = experiment(&[("a", &retried)]);
        let changes = tracker
            .apply(Changes::Rewritten { unread: vec![], state: Box::new(state), events: vec![] })
            .unwrap();
        assert_eq!(told(&changes), [("a".into(), Some(Status::Done), WatchStatus::Is(Status::Done))]);
        assert_eq!(changes[0].config.attempts, 2);
    }

    #[test]
    fn lines_a_fold_kept_are_told_before_what_the_fold_left() {
        let todo = Config::new(params(0));
        let (running, _) = ran(&todo, &Ending::Done, 10);
        let mut tracker = Tracker::new(experiment(&[("a", &running)]));
        // Unread when the journal was folded: attempt 1 failed, attempt 2 began.
        let failed_ending = Ending::Failed { exit_code: Some(1), signal: None, error: "exit code 1".into() };
        let (_, failed) = ran(&todo, &failed_ending, 10);
        let (retry, _) = ran(&failed, &Ending::Done, 20);
        let unread = [("a", &failed), ("a", &retry)]
            .map(|(n, c)| Event { name: n.to_string(), config: c.clone() })
            .to_vec();
        let state = experiment(&[("a", &retry)]);
        let changes =
            tracker.apply(Changes::Rewritten { unread, state: Box::new(state), events: vec![] }).unwrap();
        let (running, failed) = (Status::Running, Status::Failed);
        assert_eq!(
            told(&changes),
            [
                ("a".into(), Some(running), WatchStatus::Is(failed)),
                ("a".into(), Some(failed), WatchStatus::Is(running)),
            ]
        );
    }

    #[test]
    fn statuses_parse_removed_too() {
        assert_eq!("removed".parse::<WatchStatus>(), Ok(WatchStatus::Removed));
        assert_eq!("done".parse::<WatchStatus>(), Ok(WatchStatus::Is(Status::Done)));
        assert!("finished".parse::<WatchStatus>().unwrap_err().contains("finished"));
    }
}
