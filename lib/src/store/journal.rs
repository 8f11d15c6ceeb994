//! The append-only journal (`.exp/journal.jsonl`) of status changes.
//!
//! Each line is one JSON event that sets a config's whole record, so
//! replaying a line twice is harmless. The first line names the epoch of the
//! `experiment.yaml` it extends; folding bumps the epoch, so a journal left
//! behind by a crash mid-fold is recognised as already folded and ignored.

use crate::error::{Error, Result};
use crate::model::{Config, Entry, Experiment};
use crate::report::warn;
use crate::store::atomic::{no_follow, regular};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One status change: the config's full record after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub name: String,
    pub config: Config,
}

/// The state a journal extends: the experiment's id and the epoch of its
/// `experiment.yaml`. The journal's first line says which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub epoch: u64,
    #[serde(default)]
    pub experiment: Option<String>,
}

impl Owner {
    pub fn of(experiment: &Experiment) -> Owner {
        Owner { epoch: experiment.journal_epoch, experiment: experiment.id.clone() }
    }
}

/// How often buffered journal writes are forced to disk (group commit).
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The open journal of one process.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    last_sync: Instant,
    unsynced: bool,
}

/// What a read of the journal found.
pub struct Tail {
    pub events: Vec<Event>,
    /// Offset after the last whole, valid line read.
    pub end: u64,
}

/// What the journal's first line says about it.
enum Head {
    /// No whole first line: empty, or a header torn by a crash (nothing
    /// can follow a torn line).
    None,
    /// It extends the state: events follow the header, which ends here.
    Current(u64),
    /// Left by a fold that crashed before restarting it: already folded.
    Folded,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal> {
        let file = no_follow()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|err| Error::io("cannot open", path, err))?;
        let file = regular(file, path)?;
        Ok(Journal { path: path.to_path_buf(), file, last_sync: Instant::now(), unsynced: false })
    }

    /// Read the events that extend `owner`'s state from byte `from` on
    /// (`from` 0 checks the header). Must hold the lock. An invalid last
    /// line is skipped with a warning (the next writer cuts it); an invalid
    /// line before the last one, or a header that is not valid or names
    /// another experiment or a later epoch, is exit 3.
    pub fn read(path: &Path, owner: &Owner, from: u64) -> Result<Tail> {
        let mut file = match no_follow().read(true).open(path) {
            Ok(file) => regular(file, path)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Tail { events: Vec::new(), end: 0 })
            }
            Err(err) => return Err(Error::io("cannot read", path, err)),
        };
        let start = if from == 0 {
            match head(&file, path, owner)? {
                Head::None | Head::Folded => return Ok(Tail { events: Vec::new(), end: 0 }),
                Head::Current(end) => end,
            }
        } else {
            from
        };
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|err| Error::io("cannot read", path, err))?;
        let mut events = Vec::new();
        let mut offset = 0usize;
        while offset < bytes.len() {
            let Some(len) = bytes[offset..].iter().position(|&b| b == b'\n') else {
                warn(format!("{}: skipping a torn last line (an interrupted write)", path.display()));
                break;
            };
            let line = &bytes[offset..offset + len];
            let last = offset + len + 1 == bytes.len();
            match serde_json::from_slice::<Event>(line) {
                Ok(event) => events.push(event),
                Err(_) if last => {
                    warn(format!("{}: skipping an invalid last line", path.display()));
                    break;
                }
                Err(err) => {
                    return Err(Error::state(format!(
                        "{}: byte {}: corrupt journal line: {err}",
                        path.display(),
                        start as usize + offset
                    )))
                }
            }
            offset += len + 1;
        }
        Ok(Tail { events, end: start + offset as u64 })
    }

    /// Whether anything follows the header line (of any epoch: a stale
    /// journal is worth a fold too, which clears it).
    pub fn has_events(path: &Path) -> bool {
        let Ok(file) = File::open(path) else {
            return false;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        match first_line(&file) {
            Ok(Some(line)) => len > line.len() as u64 + 1,
            _ => len > 0,
        }
    }

    /// Append events in one write. Must hold the exclusive lock and have
    /// read the journal up to `valid_end` (its last valid line): anything
    /// after it, a torn or invalid line left by a crash or by hand, is cut
    /// first; a journal already folded is restarted. Returns where the
    /// written bytes start and end.
    pub fn append(&mut self, owner: &Owner, valid_end: u64, events: &[Event]) -> Result<(u64, u64)> {
        let io = |err| Error::io("cannot append to", &self.path, err);
        let mut len = self.file.metadata().map_err(io)?.len();
        let mut text = Vec::with_capacity(256 * events.len() + 64);
        match head(&self.file, &self.path, owner)? {
            Head::Current(_) if len < valid_end => {
                return Err(Error::state(format!(
                    "{}: shorter than when it was read; refusing to append",
                    self.path.display()
                )))
            }
            Head::Current(_) if len > valid_end => {
                warn(format!("{}: cut an invalid or torn last line", self.path.display()));
                self.file.set_len(valid_end).map_err(io)?;
                len = valid_end;
            }
            Head::Current(_) => {}
            Head::None | Head::Folded => {
                self.file.set_len(0).map_err(io)?;
                len = 0;
                serde_json::to_writer(&mut text, owner).expect("header serializes");
                text.push(b'\n');
            }
        }
        for event in events {
            serde_json::to_writer(&mut text, event).map_err(|err| Error::state(err.to_string()))?;
            text.push(b'\n');
        }
        if let Err(err) = self.file.write_all(&text) {
            // Some whole lines may be written (a full disk): cut them, so an
            // all-or-nothing change leaves nothing behind.
            let _ = self.file.set_len(len);
            return Err(Error::io("cannot write", &self.path, err));
        }
        self.unsynced = true;
        if self.last_sync.elapsed() >= SYNC_INTERVAL {
            self.sync()?;
        }
        Ok((len, len + text.len() as u64))
    }

    /// Start the journal afresh for `owner` (after a fold). Must hold the exclusive lock.
    pub fn reset(&mut self, owner: &Owner) -> Result<()> {
        let mut header = serde_json::to_vec(owner).expect("header serializes");
        header.push(b'\n');
        self.file.set_len(0).map_err(|err| Error::io("cannot truncate", &self.path, err))?;
        self.file.write_all(&header).map_err(|err| Error::io("cannot write", &self.path, err))?;
        self.unsynced = true;
        self.sync()
    }

    /// Force what was appended to disk.
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.file.sync_data().map_err(|err| Error::io("cannot sync", &self.path, err))?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Whether a group commit is due.
    pub fn sync_due(&self) -> Option<Duration> {
        self.unsynced.then(|| SYNC_INTERVAL.saturating_sub(self.last_sync.elapsed()))
    }
}

/// Judge the journal's header against the state it should extend. Only a
/// valid header of this experiment and an earlier epoch means "folded";
/// anything else but the current owner is exit 3, and the file is kept.
fn head(file: &File, path: &Path, owner: &Owner) -> Result<Head> {
    let line = first_line(file).map_err(|err| Error::io("cannot read", path, err))?;
    let Some(line) = line else {
        return Ok(Head::None);
    };
    let header: Owner = serde_json::from_slice(&line).map_err(|err| {
        Error::state(format!("{}: corrupt header ({err}); the journal is kept as it is", path.display()))
    })?;
    // A journal written before the experiment had an id (a Delphyne file,
    // first written to) and folded since: already folded.
    if header.experiment.is_none() && owner.experiment.is_some() && header.epoch < owner.epoch {
        return Ok(Head::Folded);
    }
    if header.experiment != owner.experiment {
        return Err(Error::state(format!(
            "{}: belongs to another experiment ({}), not to this one ({})",
            path.display(),
            header.experiment.as_deref().unwrap_or("no id"),
            owner.experiment.as_deref().unwrap_or("no id")
        )));
    }
    match header.epoch.cmp(&owner.epoch) {
        std::cmp::Ordering::Equal => Ok(Head::Current(line.len() as u64 + 1)),
        std::cmp::Ordering::Less => Ok(Head::Folded),
        std::cmp::Ordering::Greater => Err(Error::state(format!(
            "{}: extends epoch {} of experiment.yaml, which is at epoch {} (was experiment.yaml restored from a copy?)",
            path.display(),
            header.epoch,
            owner.epoch
        ))),
    }
}

/// The journal's whole first line, without its newline; None when the
/// file is shorter than a header and holds no whole line (a torn header).
fn first_line(file: &File) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 512];
    let n = file.read_at(&mut head, 0)?;
    match head[..n].iter().position(|&b| b == b'\n') {
        Some(end) => Ok(Some(head[..end].to_vec())),
        None if n < head.len() => Ok(None),
        // Far longer than any header, with no line end: not a journal.
        None => Ok(Some(head.to_vec())),
    }
}

/// Apply events in journal order; the last event for a name wins.
pub fn apply(experiment: &mut Experiment, events: Vec<Event>) {
    for event in events {
        experiment.configs.insert(event.name, Entry::new(event.config));
    }
}
