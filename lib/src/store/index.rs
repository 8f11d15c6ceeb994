//! `.exp/index`: what counting, adding and running configs need to know of
//! every config, derived from `experiment.yaml` at each fold, so that none
//! of them reads the state file of a big experiment whole.
//!
//! A header line (JSON: the experiment's id and epoch, the state file it
//! was built from, its defaults, the running configs and their claims),
//! then four columns, each in the state file's order: the 128-bit FNV-1a
//! hash of each config's name, of its identity, the offset of its line in
//! the state file, and its status (one byte). Columns, not records: a
//! count reads one byte a config, a run the statuses and offsets only.
//! It is read with plain reads, never mapped (another host may rewrite it
//! on a shared filesystem), and trusted only when its header matches the
//! state file as it is now; otherwise it is rebuilt from the state. It is
//! never the only copy of anything: deleting it costs one rebuild.

use crate::error::{Error, Result};
use crate::hash::{fnv1a_128, PrehashedState};
use crate::identity::{canonical, identity};
use crate::model::{Claim, Experiment, Params, Status};
use crate::store::atomic::{no_follow, regular, write_atomic_with};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

const FORMAT: u32 = 3;
/// Bytes per config: name hash, identity hash, line offset, status.
const PER_CONFIG: u64 = 16 + 16 + 8 + 1;

/// The state file an index was built from: any rewrite changes one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateId {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mtime_ns: i128,
}

impl StateId {
    /// Whether two stamps are of the same contents: the same length and
    /// modification time, to the nanosecond. A copy that keeps times
    /// (`cp -a`, `tar`, `mv` to another disk) keeps its index; any rewrite
    /// (a fold, an editor) changes the time; and the index's header must
    /// also name the experiment and epoch the state file's header does.
    pub fn same_contents(&self, other: &StateId) -> bool {
        self.len == other.len && self.mtime_ns == other.mtime_ns
    }

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

/// The columns a reader asks for; the others stay empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Columns {
    pub names: bool,
    pub identities: bool,
    pub offsets: bool,
    pub statuses: bool,
}

impl Columns {
    pub const ALL: Columns = Columns { names: true, identities: true, offsets: true, statuses: true };
}

#[derive(Debug, Default)]
pub struct Index {
    header: Option<Header>,
    /// Each config's name hash ([`name_hash`]).
    pub names: Vec<u128>,
    /// Each config's identity hash ([`identity_hash`]).
    pub identities: Vec<u128>,
    /// Where each config's line starts in the state file.
    pub offsets: Vec<u64>,
    /// Each config's status as of the fold.
    pub statuses: Vec<Status>,
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
    /// The index of `experiment` as written to a state file of `state`,
    /// whose config lines start at `offsets`. Identities are taken from
    /// `known` (by name) or from `earlier` (an index of the same configs'
    /// params and defaults), else computed.
    pub fn build(
        experiment: &Experiment,
        state: StateId,
        offsets: Vec<u64>,
        earlier: Option<&Index>,
        known: &HashMap<u128, u128, PrehashedState>,
    ) -> Result<Index> {
        let defaults = defaults_key(&experiment.defaults);
        let earlier: HashMap<u128, u128, PrehashedState> = match earlier
            .filter(|e| e.header.as_ref().is_some_and(|h| h.defaults == defaults))
        {
            Some(earlier) => earlier.names.iter().copied().zip(earlier.identities.iter().copied()).collect(),
            None => HashMap::default(),
        };
        let count = experiment.configs.len();
        let mut index = Index {
            header: None,
            names: Vec::with_capacity(count),
            identities: Vec::with_capacity(count),
            offsets,
            statuses: Vec::with_capacity(count),
        };
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
            index.names.push(hash);
            index.identities.push(identity);
            index.statuses.push(status);
        }
        if index.offsets.len() != count {
            return Err(Error::state(format!("{} line offsets for {count} configs", index.offsets.len())));
        }
        index.header = Some(Header {
            format: FORMAT,
            experiment: experiment.id.clone(),
            epoch: experiment.journal_epoch,
            state,
            defaults,
            count,
            running,
        });
        Ok(index)
    }

    fn header(&self) -> &Header {
        self.header.as_ref().expect("an index has a header once built or read")
    }

    /// The number of configs in the state file.
    pub fn len(&self) -> usize {
        self.header().count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this index describes `experiment`'s state file as it is now.
    pub fn describes(&self, experiment: &Experiment, state: &StateId) -> bool {
        let header = self.header();
        header.experiment == experiment.id
            && header.epoch == experiment.journal_epoch
            && header.state.same_contents(state)
            && header.defaults == defaults_key(&experiment.defaults)
    }

    /// Whether this index describes the state file `state` (whatever it holds).
    pub fn built_from(&self, state: &StateId) -> bool {
        self.header().state.same_contents(state)
    }

    /// The configs running when the index was built, with their claims.
    pub fn running(&self) -> &[(String, Option<Claim>)] {
        &self.header().running
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let header = serde_json::to_vec(self.header()).map_err(|err| Error::state(err.to_string()))?;
        write_atomic_with(path, |file| {
            file.write_all(&header)?;
            file.write_all(b"\n")?;
            for hash in &self.names {
                file.write_all(&hash.to_le_bytes())?;
            }
            for hash in &self.identities {
                file.write_all(&hash.to_le_bytes())?;
            }
            for offset in &self.offsets {
                file.write_all(&offset.to_le_bytes())?;
            }
            let statuses: Vec<u8> = self.statuses.iter().map(|&status| status_byte(status)).collect();
            file.write_all(&statuses)?;
            Ok(())
        })
    }

    /// The index at `path`, with the `columns` asked for; None when it is
    /// missing, of another format or not whole (it is then rebuilt, never
    /// trusted). Only the columns asked for are read.
    pub fn read(path: &Path, columns: Columns) -> Option<Index> {
        let file = regular(no_follow().read(true).open(path).ok()?, path).ok()?;
        let mut first = Vec::new();
        BufReader::new(&file).read_until(b'\n', &mut first).ok()?;
        let header: Header = serde_json::from_slice(first.strip_suffix(b"\n")?).ok()?;
        let count = header.count as u64;
        let start = first.len() as u64;
        if header.format != FORMAT || file.metadata().ok()?.len() != start + PER_CONFIG * count {
            return None;
        }
        let column = |at: u64, width: u64, wanted: bool| -> Option<Vec<u8>> {
            let mut bytes = vec![0; if wanted { (width * count) as usize } else { 0 }];
            file.read_exact_at(&mut bytes, start + at * count).ok()?;
            Some(bytes)
        };
        let hashes = |bytes: Vec<u8>| -> Vec<u128> {
            bytes.chunks_exact(16).map(|b| u128::from_le_bytes(b.try_into().expect("16 bytes"))).collect()
        };
        let names = hashes(column(0, 16, columns.names)?);
        let identities = hashes(column(16, 16, columns.identities)?);
        let offsets = column(32, 8, columns.offsets)?
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        let statuses = column(40, 1, columns.statuses)?
            .into_iter()
            .map(|byte| Status::ALL.get(usize::from(byte)).copied())
            .collect::<Option<Vec<_>>>()?;
        Some(Index { header: Some(header), names, identities, offsets, statuses })
    }
}

/// A config's line read from the state file at the offset the index gives.
pub fn read_line_at(file: &File, offset: u64) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut chunk = vec![0; 4096];
    loop {
        let read = file.read_at(&mut chunk, offset + line.len() as u64)?;
        if read == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no end of line"));
        }
        match chunk[..read].iter().position(|&b| b == b'\n') {
            Some(end) => {
                line.extend_from_slice(&chunk[..end]);
                break;
            }
            None => line.extend_from_slice(&chunk[..read]),
        }
        chunk.resize((chunk.len() * 2).min(1 << 24), 0);
    }
    String::from_utf8(line).map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}
