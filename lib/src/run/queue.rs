//! The queue of a run: which config starts next (this run's retries
//! first, then the todo configs of the selection in the experiment's
//! order), when to start no more (`--limit`, `--max-failures`), whether a
//! failure is retried (`--retries`), and how many ended how. Pure: it
//! never touches the store, a process or the clock, so it is tested alone.

use crate::model::{Ending, Status};
use crate::run::tally::Tally;
use crate::select::Selection;
use std::collections::{HashMap, HashSet, VecDeque};

/// The bounds a run sets on what it starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bounds {
    /// `--limit N`: configs started at most.
    pub limit: Option<usize>,
    /// `--retries N`: more attempts of a failed config in this run.
    pub retries: u32,
    /// `--max-failures N`: start nothing more once N configs failed.
    pub max_failures: Option<usize>,
}

#[derive(Debug)]
pub struct Queue {
    selection: Selection,
    bounds: Bounds,
    todo: VecDeque<String>,
    /// Todo configs of a big experiment not read yet (a window's run).
    unread: usize,
    retries: VecDeque<String>,
    /// Configs this run started (a listed failed one is taken once).
    tried: HashSet<String>,
    /// Attempts of each config in this run.
    attempts: HashMap<String, u32>,
    /// Configs this run started, counted against `--limit`.
    started: usize,
    /// Whether `--max-failures` was reached and said so.
    brake_said: bool,
    /// Whether the last config `next` gave was a retry.
    last_was_retry: bool,
    /// This run's endings so far (`running` is the workers' to set).
    pub tally: Tally,
}

/// What became of a config's ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// It failed and is tried again in this run.
    pub retry: bool,
    /// This ending reached `--max-failures`: nothing more starts (say so once).
    pub braking: bool,
}

impl Queue {
    pub fn new(selection: Selection, bounds: Bounds) -> Queue {
        Queue {
            selection,
            bounds,
            todo: VecDeque::new(),
            unread: 0,
            retries: VecDeque::new(),
            tried: HashSet::new(),
            attempts: HashMap::new(),
            started: 0,
            brake_said: false,
            last_was_retry: false,
            tally: Tally::default(),
        }
    }

    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Todo configs in the selection; listed failed ones too, once per run.
    pub fn claimable(&self, name: &str, status: Status) -> bool {
        self.selection.wants(name, status, self.selection.by_name() && !self.tried.contains(name))
    }

    /// Queue the claimable configs among `configs`, in their order, anew.
    pub fn fill<'a>(&mut self, configs: impl Iterator<Item = (&'a String, Status)>) {
        self.todo = configs
            .filter(|(name, status)| self.claimable(name, *status))
            .map(|(name, _)| name.clone())
            .collect();
    }

    /// Whether todo configs are queued.
    pub fn has_todo(&self) -> bool {
        !self.todo.is_empty()
    }

    /// How many todo configs there are beyond those queued, not read yet.
    pub fn set_unread(&mut self, unread: usize) {
        self.unread = unread;
    }

    /// A config of the selection that became todo (another process put it
    /// back, or a dead runner's claim was recovered): queued last.
    pub fn push(&mut self, name: String) {
        if self.selection.contains(&name) {
            self.todo.push_back(name);
        }
    }

    /// The next config to start, by `status_of` (its status now, None when
    /// gone): a retry of this run first, which must still be failed; then,
    /// if `fresh` (no bound of time is past), a claimable todo one.
    pub fn next(&mut self, fresh: bool, status_of: impl Fn(&str) -> Option<Status>) -> Option<String> {
        loop {
            let (name, retry) = match self.retries.pop_front() {
                Some(name) => (name, true),
                None if !(fresh && self.may_start_more()) => return None,
                None => (self.todo.pop_front()?, false),
            };
            let Some(status) = status_of(&name) else { continue };
            let ok = if retry { status == Status::Failed } else { self.claimable(&name, status) };
            if ok {
                self.last_was_retry = retry;
                return Some(name);
            }
        }
    }

    /// `name`, just given by `next`, waits (for devices or memory): first
    /// again where it was, retry or not.
    pub fn unnext(&mut self, name: String) {
        match self.last_was_retry {
            true => self.retries.push_front(name),
            false => self.todo.push_front(name),
        }
    }

    /// `--names`: a note of the listed configs that will not run (done or
    /// running), by `status_of`.
    pub fn skipped_names(&self, status_of: impl Fn(&str) -> Option<Status>) -> Option<String> {
        let names = self.selection.names.as_ref()?;
        let mut skipped = crate::model::Counts::default();
        for status in names.iter().filter_map(|name| status_of(name)) {
            if matches!(status, Status::Done | Status::Running) {
                skipped.add(status);
            }
        }
        (skipped.total > 0).then(|| {
            format!(
                "{} listed config(s) skipped: {} done, {} running (exp-clean --reset --names FILE puts done ones back to todo)",
                skipped.total, skipped.done, skipped.running
            )
        })
    }

    /// `name` was claimed for an attempt of this run.
    pub fn started(&mut self, name: &str) {
        if self.tried.insert(name.to_string()) {
            self.started += 1;
        }
        *self.attempts.entry(name.to_string()).or_default() += 1;
    }

    /// `name` did not start after all: back to the head of the queue, its
    /// try in this run not counted.
    pub fn put_back(&mut self, name: &str) {
        if let Some(tries) = self.attempts.get_mut(name) {
            *tries -= 1;
            if *tries == 0 {
                self.attempts.remove(name);
                if self.tried.remove(name) {
                    self.started -= 1;
                }
            }
        }
        self.todo.push_front(name.to_string());
    }

    /// Count an ending of `name`, and decide: a failure is retried while
    /// `--retries` allows and the run is not `stopping`; once
    /// `--max-failures` is reached, no retry is left either, and the
    /// configs that waited for one count as failed.
    pub fn ended(&mut self, name: &str, ending: &Ending, stopping: bool) -> Verdict {
        match ending {
            Ending::Done => self.tally.done += 1,
            Ending::Failed { .. } => self.tally.failed += 1,
            Ending::Interrupted => self.tally.interrupted += 1,
            Ending::NotStarted => {}
        }
        let retries_left = self.tries(name) <= self.bounds.retries;
        let mut retry = matches!(ending, Ending::Failed { .. }) && retries_left && !stopping;
        if retry {
            // Not finished yet: the counts leave it out until its last attempt.
            self.tally.failed -= 1;
            self.retries.push_back(name.to_string());
        }
        let braking = self.braked() && !self.brake_said;
        if self.braked() && !self.retries.is_empty() {
            self.tally.failed += self.retries.len();
            self.retries.clear();
            retry = false;
        }
        let braking = braking && !retry && *ending != Ending::NotStarted;
        self.brake_said |= braking;
        Verdict { retry, braking }
    }

    /// This run's attempts of `name` so far.
    pub fn tries(&self, name: &str) -> u32 {
        self.attempts.get(name).copied().unwrap_or(0)
    }

    /// The attempts `--retries` allows a config in this run.
    pub fn most_tries(&self) -> u32 {
        self.bounds.retries + 1
    }

    /// `--max-failures` reached: nothing more is launched, retries included.
    pub fn braked(&self) -> bool {
        self.bounds.max_failures.is_some_and(|max| self.tally.failed >= max)
    }

    /// Whether a new config may start, by `--limit` and `--max-failures`.
    pub fn may_start_more(&self) -> bool {
        !self.braked() && self.bounds.limit.is_none_or(|limit| self.started < limit)
    }

    pub fn has_retries(&self) -> bool {
        !self.retries.is_empty()
    }

    /// Configs this run knows of, for its counter: finished, put back by a
    /// stop, `in_flight` (running or awaiting a verdict), waiting for a
    /// retry, and queued (as many as `--limit` still lets start). Queued
    /// ones another runner takes drop out as they are met.
    pub fn known(&self, in_flight: usize) -> usize {
        let mut queued = self.todo.len() + self.unread;
        if let Some(limit) = self.bounds.limit {
            queued = queued.min(limit.saturating_sub(self.started));
        }
        // Those a stop put back count too: the total stays put meanwhile.
        self.tally.finished() + self.tally.interrupted + in_flight + self.retries.len() + queued
    }

    /// Whether a queued config is still claimable, by `status_of`.
    pub fn any_claimable(&self, status_of: impl Fn(&str) -> Option<Status>) -> bool {
        self.todo.iter().any(|name| status_of(name).is_some_and(|status| self.claimable(name, status)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn failed() -> Ending {
        Ending::Failed { exit_code: Some(1), signal: None, error: "exit code 1".into() }
    }

    fn queue(bounds: Bounds, configs: &BTreeMap<String, Status>) -> Queue {
        let mut queue = Queue::new(Selection::default(), bounds);
        queue.fill(configs.iter().map(|(name, status)| (name, *status)));
        queue
    }

    fn configs(statuses: &[(&str, Status)]) -> BTreeMap<String, Status> {
        statuses.iter().map(|(name, status)| (name.to_string(), *status)).collect()
    }

    #[test]
    fn todo_configs_start_in_order_within_the_limit() {
        let all =
            configs(&[("a", Status::Todo), ("b", Status::Done), ("c", Status::Todo), ("d", Status::Todo)]);
        let mut queue = queue(Bounds { limit: Some(2), ..Bounds::default() }, &all);
        let status = |name: &str| all.get(name).copied();
        assert_eq!(queue.known(0), 2, "--limit bounds what is counted as to come");
        assert_eq!(queue.next(true, status).as_deref(), Some("a"));
        queue.started("a");
        assert_eq!(queue.next(false, status), None, "a bound of time is past: nothing fresh");
        assert_eq!(queue.next(true, status).as_deref(), Some("c"));
        queue.started("c");
        assert!(!queue.may_start_more());
        assert_eq!(queue.next(true, status), None, "the limit is reached");
    }

    #[test]
    fn a_config_taken_meanwhile_is_passed_over_and_one_put_back_comes_first() {
        let mut all = configs(&[("a", Status::Todo), ("b", Status::Todo)]);
        let mut queue = queue(Bounds::default(), &all);
        all.insert("a".into(), Status::Running);
        let status = |name: &str| all.get(name).copied();
        assert_eq!(queue.next(true, status).as_deref(), Some("b"));
        queue.started("b");
        queue.put_back("b");
        assert_eq!((queue.tries("b"), queue.known(0)), (0, 1), "its try is not counted");
        assert_eq!(queue.next(true, status).as_deref(), Some("b"));
    }

    #[test]
    fn a_failure_is_retried_first_while_retries_last_and_never_during_a_stop() {
        let all = configs(&[("a", Status::Todo), ("b", Status::Todo)]);
        let mut queue = queue(Bounds { retries: 1, ..Bounds::default() }, &all);
        queue.started("a");
        assert_eq!(queue.ended("a", &failed(), false), Verdict { retry: true, braking: false });
        assert_eq!(queue.tally.failed, 0, "not finished yet");
        let failed_now = |name: &str| Some(if name == "a" { Status::Failed } else { Status::Todo });
        assert_eq!(queue.next(true, failed_now).as_deref(), Some("a"), "retries come first");
        queue.started("a");
        assert_eq!(queue.ended("a", &failed(), false), Verdict { retry: false, braking: false });
        assert_eq!((queue.tally.failed, queue.tries("a")), (1, 2));
        queue.started("b");
        assert!(!queue.ended("b", &failed(), true).retry, "a stopping run retries nothing");
        assert_eq!(queue.tally.failed, 2);
    }

    #[test]
    fn max_failures_stops_starting_and_counts_the_waiting_retries_as_failed_once() {
        let all = configs(&[("a", Status::Todo), ("b", Status::Todo), ("c", Status::Todo)]);
        let mut queue = queue(Bounds { retries: 1, max_failures: Some(1), ..Bounds::default() }, &all);
        queue.started("a");
        queue.started("b");
        assert!(queue.ended("a", &failed(), false).retry, "a failure with retries left is not counted yet");
        assert!(queue.ended("b", &failed(), false).retry);
        assert!(!queue.braked());
        assert_eq!(queue.next(true, |_| Some(Status::Failed)).as_deref(), Some("a"));
        queue.started("a");
        let verdict = queue.ended("a", &failed(), false);
        assert_eq!(verdict, Verdict { retry: false, braking: true });
        assert!(queue.braked() && !queue.may_start_more() && !queue.has_retries());
        assert_eq!(queue.tally.failed, 2, "b, which waited for its retry, failed too");
        assert!(!queue.ended("c", &Ending::Interrupted, false).braking, "said once");
        assert_eq!(queue.next(true, |_| Some(Status::Failed)), None);
    }

    #[test]
    fn a_config_that_waits_for_resources_stays_first_retry_or_not() {
        let all = configs(&[("a", Status::Todo), ("b", Status::Todo)]);
        let mut queue = queue(Bounds { retries: 1, ..Bounds::default() }, &all);
        let status = |name: &str| all.get(name).copied();
        let a = queue.next(true, status).unwrap();
        queue.unnext(a);
        assert_eq!((queue.next(true, status).as_deref(), queue.known(0)), (Some("a"), 1));
        queue.started("a");
        assert!(queue.ended("a", &failed(), false).retry);
        let failed_a = |name: &str| Some(if name == "a" { Status::Failed } else { Status::Todo });
        let retry = queue.next(true, failed_a).unwrap();
        queue.unnext(retry);
        assert!(queue.has_retries(), "still a retry");
        assert_eq!(queue.next(true, failed_a).as_deref(), Some("a"));
        assert_eq!(queue.next(true, failed_a).as_deref(), Some("b"));
    }

    #[test]
    fn a_listed_failed_config_is_taken_once_per_run() {
        let selection = Selection { names: Some(["a".to_string()].into()), shard: None };
        let mut queue = Queue::new(selection, Bounds::default());
        let all = configs(&[("a", Status::Failed), ("b", Status::Todo)]);
        queue.fill(all.iter().map(|(name, status)| (name, *status)));
        let status = |name: &str| all.get(name).copied();
        assert_eq!(queue.next(true, status).as_deref(), Some("a"));
        queue.started("a");
        assert!(!queue.claimable("a", Status::Failed), "once");
        queue.push("b".into());
        assert_eq!(queue.next(true, status), None, "b is not listed");
    }
}
