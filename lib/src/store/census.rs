//! Every config's name and status in order, the journal applied, without a
//! map of them: counting a million configs, listing their names or adding
//! one more then costs a scan of the state file, not a hash map of it.

use crate::error::{Error, Result};
use crate::hash::fnv1a;
use crate::model::Counts;
use crate::model::{Claim, Config, Entry, Experiment, Status};
use crate::store::index::name_hash;
use crate::store::journal::Event;
use crate::store::state_file::Parsed;
use crate::store::Indexed;
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The experiment (without its map of configs) and its configs in order.
pub struct Census {
    pub experiment: Experiment,
    pub configs: Vec<(String, Entry)>,
}

impl Census {
    pub fn new(parsed: Parsed, events: Vec<Event>, path: &Path) -> Result<Census> {
        let Parsed { experiment, mut configs, checked_names } = parsed;
        check_unique(&configs, checked_names, path)?;
        // The latest event of each name; those of names the state lacks are
        // configs added since, in the order they came.
        let mut latest: IndexMap<String, Option<Config>> = IndexMap::new();
        for event in events {
            latest.insert(event.name, Some(event.config));
        }
        if !latest.is_empty() {
            for (name, entry) in &mut configs {
                if let Some(config) = latest.get_mut(name).and_then(Option::take) {
                    *entry = Entry::new(config);
                }
            }
            configs.extend(latest.into_iter().filter_map(|(name, c)| Some((name, Entry::new(c?)))));
        }
        Ok(Census { experiment, configs })
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for (_, entry) in &self.configs {
            counts.add(entry.status());
        }
        counts
    }
}

/// A name given twice (a hand-edited file) is an error: checked by hashes
/// of the names, and exactly should two hashes meet.
fn check_unique(configs: &[(String, Entry)], hashes: Option<Vec<u64>>, path: &Path) -> Result<()> {
    // Sorted hashes: cheaper than a hash set over a million names.
    let mut hashes =
        hashes.unwrap_or_else(|| configs.iter().map(|(name, _)| fnv1a(name.as_bytes())).collect());
    hashes.sort_unstable();
    if hashes.windows(2).all(|pair| pair[0] != pair[1]) {
        return Ok(());
    }
    let mut names = std::collections::HashSet::with_capacity(configs.len());
    match configs.iter().find(|(name, _)| !names.insert(name.as_str())) {
        Some((name, _)) => {
            Err(Error::state(format!("{}: corrupt: config {name:?} is given twice", path.display())))
        }
        None => Ok(()),
    }
}

impl From<Experiment> for Census {
    fn from(mut experiment: Experiment) -> Census {
        let configs = std::mem::take(&mut experiment.configs).into_iter().collect();
        Census { experiment, configs }
    }
}

/// The configs running with their claims, and the counts by status.
pub type IndexedCounts = (Counts, Vec<(String, Option<Claim>)>);

impl crate::store::Store {
    /// [`count_indexed`] of the index as it is now (its names and statuses
    /// read); None without an index of the state file as it is.
    pub fn indexed_counts(&self, lock: &crate::store::lock::Lock) -> Result<Option<IndexedCounts>> {
        let columns = crate::store::index::Columns { names: true, statuses: true, ..Default::default() };
        Ok(self.indexed(lock, columns)?.map(|indexed| count_indexed(&indexed)))
    }
}

/// Counts by status and the running configs with their claims, from the
/// index and the journal: no config line of the state file is read.
pub fn count_indexed(indexed: &Indexed) -> IndexedCounts {
    let mut latest: HashMap<u128, &Event> = HashMap::with_capacity(indexed.events.len());
    for event in &indexed.events {
        latest.insert(name_hash(&event.name), event);
    }
    let mut counts = Counts::default();
    for &status in &indexed.index.statuses {
        counts.add(status);
    }
    // An event replaces the status its config had at the fold; configs
    // added since the fold are in the journal only.
    if !latest.is_empty() {
        let mut added: HashSet<u128> = latest.keys().copied().collect();
        for (name, &status) in indexed.index.names.iter().zip(&indexed.index.statuses) {
            if let Some(event) = latest.get(name) {
                *counts.get_mut(status) -= 1;
                counts.total -= 1;
                counts.add(event.config.status);
                added.remove(name);
            }
        }
        for hash in added {
            counts.add(latest[&hash].config.status);
        }
    }
    let mut running: Vec<(String, Option<Claim>)> = indexed
        .index
        .running()
        .iter()
        .filter(|(name, _)| !latest.contains_key(&name_hash(name)))
        .cloned()
        .collect();
    for event in latest.values().filter(|e| e.config.status == Status::Running) {
        running.push((event.name.clone(), event.config.runner.clone()));
    }
    (counts, running)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::index::Columns;
    use crate::store::tests::{event, store_with};

    #[test]
    fn counts_from_the_index_take_each_event_once() {
        let (_tmp, mut store) = store_with(&["a", "b", "c"]);
        let lock = store.lock().unwrap();
        let (mut experiment, _) = store.load(&lock).unwrap();
        let mut cursor = store.fold(&lock, &mut experiment).unwrap();
        let events = [event("a", Status::Running), event("a", Status::Done), event("d", Status::Failed)];
        store.append(&lock, &mut cursor, &events).unwrap();
        let columns = Columns { names: true, statuses: true, ..Columns::default() };
        let indexed = store.indexed(&lock, columns).unwrap().expect("an index");
        let (counts, running) = count_indexed(&indexed);
        assert_eq!((counts.todo, counts.done, counts.failed, counts.running), (2, 1, 1, 0));
        assert_eq!(counts.total, 4);
        assert!(running.is_empty());
    }
}
