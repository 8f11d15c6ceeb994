//! A run over part of a big experiment: the configs it may start are read
//! a window at a time, at the offsets the index gives, rather than the
//! whole state file. `exp-run --limit 100` of ten million configs reads
//! the index's columns and a few hundred config lines, not 1.2 GB of YAML.
//!
//! Only a plain run uses a window (no `--names`, `--shard` or
//! `--retry-failed`, no template that reads every config's params): those
//! need every config. Whatever needs the whole state later (a fold, the
//! summary of an experiment all done, a state file rewritten by another
//! process) loads it whole then.

use crate::error::{Error, Result};
use crate::model::{Counts, Experiment, Status};
use crate::store::index::{name_hash, Columns};
use crate::store::journal::apply;
use crate::store::lock::Lock;
use crate::store::{Cursor, Store};
use std::collections::HashSet;

/// Config lines read at a time.
const WIDTH: usize = 256;

pub(super) struct Window {
    names: Vec<u128>,
    offsets: Vec<u64>,
    statuses: Vec<Status>,
    /// The next position of the index to look at.
    next: usize,
    /// Todo configs (by the index) at `next` and after.
    todo_beyond: usize,
}

impl Window {
    /// The experiment with the configs a run needs first: the running ones
    /// (their claims may be dead), the first todo ones and those the
    /// journal changed since the fold. None without an index that
    /// describes the state file as it is.
    pub(super) fn open(store: &Store, lock: &Lock) -> Result<Option<(Experiment, Cursor, Window)>> {
        let columns = Columns { names: true, offsets: true, statuses: true, identities: false };
        let Some(indexed) = store.indexed(lock, columns)? else {
            return Ok(None);
        };
        let mut experiment = indexed.experiment;
        experiment.partial = true;
        let index = indexed.index;
        let running: HashSet<u128> = index.running().iter().map(|(name, _)| name_hash(name)).collect();
        let todo_beyond = index.statuses.iter().filter(|&&status| status == Status::Todo).count();
        let mut window = Window {
            names: index.names,
            offsets: index.offsets,
            statuses: index.statuses,
            next: 0,
            todo_beyond,
        };
        let running: Vec<usize> = match running.is_empty() {
            true => Vec::new(),
            false => (0..window.names.len()).filter(|&at| running.contains(&window.names[at])).collect(),
        };
        window.read(store, lock, &mut experiment, &running)?;
        window.widen(store, lock, &mut experiment)?;
        apply(&mut experiment, indexed.events);
        Ok(Some((experiment, indexed.cursor, window)))
    }

    /// Read the next todo configs (by the index) that `experiment` lacks;
    /// their names in order.
    pub(super) fn widen(
        &mut self,
        store: &Store,
        lock: &Lock,
        experiment: &mut Experiment,
    ) -> Result<Vec<String>> {
        let mut positions = Vec::with_capacity(WIDTH);
        while self.next < self.statuses.len() && positions.len() < WIDTH {
            if self.statuses[self.next] == Status::Todo {
                positions.push(self.next);
                self.todo_beyond -= 1;
            }
            self.next += 1;
        }
        self.read(store, lock, experiment, &positions)
    }

    /// Todo configs (by the index) not read yet: for the run's total.
    pub(super) fn todo_beyond(&self) -> usize {
        self.todo_beyond
    }

    /// Read the configs at `positions` into `experiment`, unless it has
    /// them (the journal changed them since the fold); their names.
    fn read(
        &self,
        store: &Store,
        lock: &Lock,
        experiment: &mut Experiment,
        at: &[usize],
    ) -> Result<Vec<String>> {
        let offsets: Vec<u64> = at.iter().map(|&position| self.offsets[position]).collect();
        let mut names = Vec::with_capacity(at.len());
        for (&position, (name, config)) in at.iter().zip(store.configs_at(lock, &offsets)?) {
            if name_hash(&name) != self.names[position] {
                return Err(Error::state(format!(
                    "{}: the index disagrees with experiment.yaml; delete it (it is rebuilt)",
                    store.internal_dir().join("index").display()
                )));
            }
            if !experiment.configs.contains_key(&name) {
                experiment.configs.insert(name.clone(), crate::model::Entry::new(config));
                names.push(name);
            }
        }
        Ok(names)
    }
}

/// The number of configs per status in the whole experiment (by the index
/// and the journal, else by reading the state), for a run that has a
/// window only.
pub(super) fn whole_counts(store: &Store, lock: &Lock) -> Result<Counts> {
    match store.indexed_counts(lock)? {
        Some((counts, _)) => Ok(counts),
        None => Ok(store.census(lock)?.counts()),
    }
}
