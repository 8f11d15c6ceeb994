//! The append-only journal (`.exp/journal.jsonl`) of status changes.
//!
//! Each line is one JSON event that sets a config's whole record, so
//! replaying a line twice is harmless. The first line names the epoch of the
//! `experiment.yaml` it extends; folding bumps the epoch, so a journal left
//! behind by a crash mid-fold is recognised as already folded and ignored.

use crate::error::{Error, Result};
use crate::model::{Config, Experiment};
use crate::report::warn;
use crate::store::atomic::no_follow;
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

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    epoch: u64,
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
    /// Offset after the last whole line read.
    pub end: u64,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal> {
        let file = no_follow()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|err| Error::io("cannot open", path, err))?;
        Ok(Journal { path: path.to_path_buf(), file, last_sync: Instant::now(), unsynced: false })
    }

    /// Read the events of `epoch` from byte `from` on. Must hold the lock.
    /// A journal of another epoch (left by an interrupted fold) holds nothing.
    pub fn read(path: &Path, epoch: u64, from: u64) -> Result<Tail> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Tail { events: Vec::new(), end: 0 })
            }
            Err(err) => return Err(Error::io("cannot read", path, err)),
        };
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(from))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|err| Error::io("cannot read", path, err))?;
        let mut events = Vec::new();
        let mut offset = 0usize;
        let mut line_number = 0usize;
        while offset < bytes.len() {
            let Some(len) = bytes[offset..].iter().position(|&b| b == b'\n') else {
                warn(format!("{}: skipping a torn last line (an interrupted write)", path.display()));
                break;
            };
            let line = &bytes[offset..offset + len];
            line_number += 1;
            let last = offset + len + 1 == bytes.len();
            if from == 0 && line_number == 1 {
                match serde_json::from_slice::<Header>(line) {
                    Ok(header) if header.epoch == epoch => {}
                    // Already folded; the next writer restarts it, so read it from 0 again.
                    _ => return Ok(Tail { events: Vec::new(), end: 0 }),
                }
            } else {
                match serde_json::from_slice::<Event>(line) {
                    Ok(event) => events.push(event),
                    Err(_) if last => {
                        warn(format!("{}: skipping a torn last line (an interrupted write)", path.display()));
                        break;
                    }
                    Err(err) => {
                        return Err(Error::state(format!(
                            "{}: byte {}: corrupt journal line: {err}",
                            path.display(),
                            from as usize + offset
                        )))
                    }
                }
            }
            offset += len + 1;
        }
        Ok(Tail { events, end: from + offset as u64 })
    }

    /// Whether anything follows the header line (of any epoch: a stale
    /// journal is worth a fold too, which clears it).
    pub fn has_events(path: &Path) -> bool {
        let Ok(file) = File::open(path) else {
            return false;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        match read_header(&file) {
            Ok(Some((_, header_len))) => len > header_len,
            _ => len > 0,
        }
    }

    /// Append events in one write. Must hold the exclusive lock and have read
    /// the state in the journal's epoch. A torn tail left by a crash is cut
    /// first, and an older epoch's journal (already folded) restarted.
    /// Returns where the written bytes start and end.
    pub fn append(&mut self, epoch: u64, events: &[Event]) -> Result<(u64, u64)> {
        let mut text = Vec::with_capacity(256 * events.len() + 32);
        let len = self.repair(epoch)?;
        if len == 0 {
            serde_json::to_writer(&mut text, &Header { epoch }).expect("header serializes");
            text.push(b'\n');
        }
        for event in events {
            serde_json::to_writer(&mut text, event).map_err(|err| Error::state(err.to_string()))?;
            text.push(b'\n');
        }
        self.file.write_all(&text).map_err(|err| Error::io("cannot write", &self.path, err))?;
        self.unsynced = true;
        if self.last_sync.elapsed() >= SYNC_INTERVAL {
            self.sync()?;
        }
        Ok((len, len + text.len() as u64))
    }

    /// Start the journal afresh for `epoch` (after a fold). Must hold the exclusive lock.
    pub fn reset(&mut self, epoch: u64) -> Result<()> {
        self.file.set_len(0).map_err(|err| Error::io("cannot truncate", &self.path, err))?;
        self.append(epoch, &[])?;
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

    /// The journal's length after cutting a torn tail, or 0 if it belongs to
    /// another epoch (and was emptied).
    fn repair(&mut self, epoch: u64) -> Result<u64> {
        let io = |err| Error::io("cannot repair", &self.path, err);
        let len = self.file.metadata().map_err(io)?.len();
        if len == 0 {
            return Ok(0);
        }
        let mut last = [0u8];
        self.file.read_exact_at(&mut last, len - 1).map_err(io)?;
        match read_header(&self.file).map_err(io)?.map(|(header, _)| header) {
            Some(header) if header.epoch > epoch => {
                return Err(Error::state(format!(
                    "{}: written in a newer epoch than this process read; refusing to append",
                    self.path.display()
                )))
            }
            Some(header) if header.epoch == epoch => {}
            // Left by a fold that crashed before restarting the journal: already folded.
            _ => {
                self.file.set_len(0).map_err(io)?;
                return Ok(0);
            }
        }
        if last[0] == b'\n' {
            return Ok(len);
        }
        // Cut back to the end of the last whole line.
        let mut end = len;
        let mut chunk = vec![0u8; 4096];
        while end > 0 {
            let start = end.saturating_sub(chunk.len() as u64);
            let piece = &mut chunk[..(end - start) as usize];
            self.file.read_exact_at(piece, start).map_err(io)?;
            if let Some(i) = piece.iter().rposition(|&b| b == b'\n') {
                let keep = start + i as u64 + 1;
                warn(format!("{}: cut a torn last line (an interrupted write)", self.path.display()));
                self.file.set_len(keep).map_err(io)?;
                return Ok(keep);
            }
            end = start;
        }
        self.file.set_len(0).map_err(io)?;
        Ok(0)
    }
}

/// The whole header line at the start of a journal, and its length with
/// the newline; None when the first line is torn or not a header.
fn read_header(file: &File) -> std::io::Result<Option<(Header, u64)>> {
    let mut head = [0u8; 64];
    let n = file.read_at(&mut head, 0)?;
    let Some(end) = head[..n].iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Header>(&head[..end]).ok().map(|header| (header, end as u64 + 1)))
}

/// Apply events in journal order; the last event for a name wins.
pub fn apply(experiment: &mut Experiment, events: Vec<Event>) {
    for event in events {
        experiment.configs.insert(event.name, event.config);
    }
}
