//! `.exp/index`: what counting and adding configs need to know of every
//! config, derived from `experiment.yaml` at each fold, so that neither
//! reads the state file of a big experiment.
//!
//! A header line (JSON: the experiment's id and epoch, the state file it
//! was built from, its defaults, the running configs and their claims),
//! then one 33-byte record per config, in the state file's order: the
//! 128-bit FNV-1a hash of its name, of its identity, and its status. It is
//! trusted only when its header matches the state file as it is now;
//! otherwise it is rebuilt from the state. It is never the only copy of
//! anything: deleting it costs one rebuild.

use crate::error::{Error, Result};
use crate::hash::{fnv1a_128, PrehashedState};
use crate::identity::{canonical, identity};
use crate::model::{Claim, Experiment, Params, Status};
use crate::store::atomic::{no_follow, regular, write_atomic};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

const FORMAT: u32 = 2;
const RECORD: usize = 33;

/// The state file an index was built from: any rewrite changes one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateId {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mtime_ns: i128,
}

impl StateId {
    pub fn of(meta: &std::fs::Metadata) -> StateId {
        use std::os::unix::fs::MetadataExt;
        StateId {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    format: u32,
    experiment: Option<String>,
    epoch: u64,
    state: StateId,
    /// The defaults the identities were computed with.
    defaults: String,
    count: usize,
    /// Running configs with their claims (none for one a crashed Delphyne
    /// run or a hand edit left running).
    running: Vec<(String, Option<Claim>)>,
}

/// One config, as the index knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub name: u128,
    pub identity: u128,
    pub status: Status,
}

#[derive(Debug)]
pub struct Index {
    header: Header,
    pub records: Vec<Record>,
}

/// The hash of a config's name, as the index keeps it.
pub fn name_hash(name: &str) -> u128 {
    fnv1a_128(name.as_bytes())
}

/// The hash of a config's identity (its params over the defaults).
pub fn identity_hash(defaults: &Params, params: &Params) -> u128 {
    crate::hash::identity_hash(&identity(defaults, params))
}

fn defaults_key(defaults: &Params) -> String {
    format!("{:032x}", fnv1a_128(canonical(&serde_json::Value::Object(defaults.clone())).as_bytes()))
}

fn status_byte(status: Status) -> u8 {
    Status::ALL.iter().position(|&s| s == status).unwrap_or(0) as u8
}

impl Index {
    /// The index of `experiment` as written to a state file of `state`.
    /// Identities are taken from `known` (by name) or from `earlier` (an
    /// index of the same configs' params and defaults), else computed.
    pub fn build(
        experiment: &Experiment,
        state: StateId,
        earlier: Option<&Index>,
        known: &HashMap<u128, u128, PrehashedState>,
    ) -> Result<Index> {
        let defaults = defaults_key(&experiment.defaults);
        let earlier: HashMap<u128, u128, PrehashedState> =
            match earlier.filter(|e| e.header.defaults == defaults) {
                Some(earlier) => earlier.records.iter().map(|r| (r.name, r.identity)).collect(),
                None => HashMap::default(),
            };
        let mut records = Vec::with_capacity(experiment.configs.len());
        let mut running = Vec::new();
        for (name, entry) in &experiment.configs {
            let hash = name_hash(name);
            let identity = match known.get(&hash).or_else(|| earlier.get(&hash)) {
                Some(&identity) => identity,
                None => identity_hash(&experiment.defaults, &entry.read()?.params),
            };
            let status = entry.status();
            if status == Status::Running {
                running.push((name.clone(), entry.get()?.runner.clone()));
            }
            records.push(Record { name: hash, identity, status });
        }
        let header = Header {
            format: FORMAT,
            experiment: experiment.id.clone(),
            epoch: experiment.journal_epoch,
            state,
            defaults,
            count: records.len(),
            running,
        };
        Ok(Index { header, records })
    }

    /// Whether this index describes `experiment`'s state file as it is now.
    pub fn describes(&self, experiment: &Experiment, state: &StateId) -> bool {
        self.header.format == FORMAT
            && self.header.experiment == experiment.id
            && self.header.epoch == experiment.journal_epoch
            && &self.header.state == state
            && self.header.defaults == defaults_key(&experiment.defaults)
    }

    /// Whether this index describes the state file `state` (whatever it holds).
    pub fn built_from(&self, state: &StateId) -> bool {
        self.header.format == FORMAT && &self.header.state == state
    }

    /// The configs running when the index was built, with their claims.
    pub fn running(&self) -> &[(String, Option<Claim>)] {
        &self.header.running
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec(&self.header).map_err(|err| Error::state(err.to_string()))?;
        bytes.push(b'\n');
        bytes.reserve(RECORD * self.records.len());
        for record in &self.records {
            bytes.extend_from_slice(&record.name.to_le_bytes());
            bytes.extend_from_slice(&record.identity.to_le_bytes());
            bytes.push(status_byte(record.status));
        }
        write_atomic(path, &bytes)
    }

    /// The index at `path`; None when it is missing or not whole (it is
    /// then rebuilt, never trusted).
    pub fn read(path: &Path) -> Option<Index> {
        let file = regular(no_follow().read(true).open(path).ok()?, path).ok()?;
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes).ok()?;
        let end = bytes.iter().position(|&b| b == b'\n')?;
        let header: Header = serde_json::from_slice(&bytes[..end]).ok()?;
        let body = &bytes[end + 1..];
        if body.len() != header.count * RECORD {
            return None;
        }
        let records = body
            .chunks_exact(RECORD)
            .map(|chunk| {
                Some(Record {
                    name: u128::from_le_bytes(chunk[..16].try_into().ok()?),
                    identity: u128::from_le_bytes(chunk[16..32].try_into().ok()?),
                    status: *Status::ALL.get(usize::from(chunk[32]))?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Index { header, records })
    }
}
