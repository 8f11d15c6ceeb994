//! What `exp-add` knows of the configs there are: their identities and
//! names as 128-bit hashes, from the whole experiment, or from a big
//! one's index, searched a column at a time while few rows ask.

use crate::error::{Error, Result};
use crate::hash::PrehashedState;
use crate::identity::identity;
use crate::model::Experiment;
use crate::store::index::{identity_hash, name_hash};
use crate::store::Indexed;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, HashSet};

/// Where the config of an identity is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Place {
    /// The n-th config of the state (and, loaded, of the journal after it).
    Existing(usize),
    /// The n-th event of the journal (configs added since the last fold).
    Event(usize),
    /// The n-th config this call adds.
    New(usize),
}

/// The identities and names of every config, as 128-bit hashes.
pub(super) struct Known {
    identities: HashMap<u128, Place, PrehashedState>,
    /// Configs whose identity hash another one has already: different
    /// identities that hash alike (never seen, but never trusted either),
    /// or duplicates an older file holds.
    more: Vec<(u128, Place)>,
    pub(super) names: HashSet<u128, PrehashedState>,
    /// Name and identity of each config whose identity was computed here,
    /// so a fold need not compute it again for the index.
    pub(super) by_name: Vec<(u128, u128)>,
    /// A big experiment's index, not yet in the maps above: searched a
    /// column scan at a time while few rows ask (adding one config to ten
    /// million need not hash them all), put in the maps once many do.
    unmapped: Option<Unmapped>,
}

struct Unmapped {
    names: Vec<u128>,
    identities: Vec<u128>,
    /// Identity hashes already searched for: their places are in the maps.
    searched: HashSet<u128, PrehashedState>,
    scans: std::cell::Cell<usize>,
}

/// Column scans (a few milliseconds each at ten million configs) before
/// the index is put in maps (about a second at ten million).
const SCANS_BEFORE_MAPS: usize = 64;

impl Known {
    pub(super) fn of_index(indexed: &mut Indexed) -> Known {
        let names = std::mem::take(&mut indexed.index.names);
        let identities = std::mem::take(&mut indexed.index.identities);
        let mut known = Known {
            identities: HashMap::default(),
            more: Vec::new(),
            names: HashSet::default(),
            by_name: Vec::new(),
            unmapped: None,
        };
        // Configs added since the fold are in the journal only: one scan
        // of the names tells which events are of those.
        let event_names: HashSet<u128, PrehashedState> =
            indexed.events.iter().map(|event| name_hash(&event.name)).collect();
        let folded: HashSet<u128, PrehashedState> =
            names.iter().copied().filter(|name| event_names.contains(name)).collect();
        let defaults = &indexed.experiment.defaults;
        for (position, event) in indexed.events.iter().enumerate() {
            let name = name_hash(&event.name);
            if !folded.contains(&name) && known.names.insert(name) {
                known.insert(identity_hash(defaults, &event.config.params), Place::Event(position));
            }
        }
        let scans = std::cell::Cell::new(0);
        known.unmapped = Some(Unmapped { names, identities, searched: HashSet::default(), scans });
        known
    }

    /// Whether a config has the name of this hash.
    pub(super) fn name_taken(&self, hash: u128) -> bool {
        self.names.contains(&hash)
            || self.unmapped.as_ref().is_some_and(|unmapped| {
                unmapped.scans.set(unmapped.scans.get() + 1);
                unmapped.names.contains(&hash)
            })
    }

    /// Put the index in the maps once scanning it costs more than that.
    pub(super) fn map_if_busy(&mut self) {
        if self.unmapped.as_ref().is_none_or(|unmapped| unmapped.scans.get() < SCANS_BEFORE_MAPS) {
            return;
        }
        let Some(unmapped) = self.unmapped.take() else { return };
        self.identities.reserve(unmapped.identities.len());
        self.names.reserve(unmapped.names.len());
        for (position, &identity) in unmapped.identities.iter().enumerate() {
            if !unmapped.searched.contains(&identity) {
                self.insert(identity, Place::Existing(position));
            }
        }
        self.names.extend(unmapped.names);
    }

    /// From the whole experiment; with `new_defaults`, two configs that the
    /// new defaults make one are refused.
    pub(super) fn of_experiment(experiment: &Experiment, new_defaults: Option<&[String]>) -> Result<Known> {
        let count = experiment.configs.len();
        let mut known = Known {
            identities: HashMap::with_capacity_and_hasher(count, Default::default()),
            more: Vec::new(),
            names: experiment.configs.keys().map(|name| name_hash(name)).collect(),
            by_name: Vec::with_capacity(count),
            unmapped: None,
        };
        let identity_at = |position: usize| -> Result<String> {
            let (_, entry) = experiment.configs.get_index(position).expect("a config of the experiment");
            Ok(identity(&experiment.defaults, &entry.read()?.params))
        };
        for (position, (name, entry)) in experiment.configs.iter().enumerate() {
            let identity = identity(&experiment.defaults, &entry.read()?.params);
            let hash = crate::hash::identity_hash(&identity);
            known.by_name.push((name_hash(name), hash));
            // Only a new default can make two existing configs one; an
            // older file may hold duplicates (the first name stands for both).
            let same = |place| match place {
                Place::Existing(other) => Ok(identity_at(other)? == identity),
                _ => Ok(false),
            };
            if let (Some(defaults), Some(Place::Existing(first))) = (new_defaults, known.find(hash, same)?) {
                let first = experiment.configs.get_index(first).map_or("", |(n, _)| n.as_str());
                return Err(Error::usage(format!(
                    "--default {}: configs {first:?} and {name:?} would become the same config",
                    defaults.join(" --default "),
                )));
            }
            known.insert(hash, Place::Existing(position));
        }
        Ok(known)
    }

    /// Where the config of identity hash `hash` is, if `same` says one of
    /// the configs with that hash has the identity looked for.
    pub(super) fn find(
        &mut self,
        hash: u128,
        mut same: impl FnMut(Place) -> Result<bool>,
    ) -> Result<Option<Place>> {
        let unsearched = self.unmapped.as_mut().filter(|unmapped| !unmapped.searched.contains(&hash));
        if let Some(unmapped) = unsearched {
            unmapped.searched.insert(hash);
            unmapped.scans.set(unmapped.scans.get() + 1);
            let found: Vec<usize> =
                (0..unmapped.identities.len()).filter(|&at| unmapped.identities[at] == hash).collect();
            // The index's configs come before the journal's and the new ones.
            let later = self.identities.remove(&hash);
            for position in found {
                self.insert(hash, Place::Existing(position));
            }
            if let Some(later) = later {
                self.insert(hash, later);
            }
        }
        let Some(&first) = self.identities.get(&hash) else {
            return Ok(None);
        };
        if same(first)? {
            return Ok(Some(first));
        }
        for &(other, place) in &self.more {
            if other == hash && same(place)? {
                return Ok(Some(place));
            }
        }
        Ok(None)
    }

    pub(super) fn insert(&mut self, hash: u128, place: Place) {
        match self.identities.entry(hash) {
            MapEntry::Vacant(slot) => {
                slot.insert(place);
            }
            MapEntry::Occupied(_) => self.more.push((hash, place)),
        }
    }
}
