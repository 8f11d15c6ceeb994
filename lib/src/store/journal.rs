//! The append-only journal (`.exp/journal.jsonl`) of status changes.
//!
//! Each line is one JSON event that sets a config's whole record, so
//! replaying a line twice is harmless. The first line names the epoch of the
//! `experiment.yaml` it extends; folding bumps the epoch, so a journal left
//! behind by a crash mid-fold is recognised as already folded and ignored.
//!
//! Checksums: a header with `"checksums":"crc32c"` says that every line,
//! itself included, ends with `,"crc":"XXXXXXXX"}`, the CRC-32C (8 lowercase
//! hex digits) of the line's bytes before `,"crc"`. A line whose checksum
//! does not match is garbage, as a torn line is: the last one is skipped
//! (and cut by the next writer), any other is exit 3. A header without the
//! declaration (an earlier release's journal) means no line has one: it
//! loads as before and is appended to as it is, until the next fold or
//! restart writes a new journal, with checksums.

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

/// The checksum a header declares: the only one this release knows.
const CHECKSUMS: &str = "crc32c";

/// The header line: whose journal it is, and whether its lines carry checksums.
#[derive(Serialize, Deserialize)]
struct Header {
    epoch: u64,
    #[serde(default)]
    experiment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksums: Option<String>,
    /// Read only to tell a damaged declaration from none.
    #[serde(default, skip_serializing)]
    crc: Option<String>,
}

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
    /// It extends the state: events follow the header, which ends at `end`;
    /// `checksums`: every line carries one.
    Current { end: u64, checksums: bool },
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
        let (start, checksums) = match head(&file, path, owner)? {
            Head::Current { end, checksums } => (end.max(from), checksums),
            Head::None | Head::Folded if from == 0 => return Ok(Tail { events: Vec::new(), end: 0 }),
            // A reader's place in a journal that was restarted, under the
            // lock it holds: only a hand could do that.
            Head::None | Head::Folded => {
                return Err(Error::state(format!(
                    "{}: restarted while it was read; the journal is kept as it is",
                    path.display()
                )))
            }
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
            let event = match checksums && !sealed(line) {
                true => Err("its checksum does not match".to_string()),
                false => serde_json::from_slice::<Event>(line).map_err(|err| err.to_string()),
            };
            match event {
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
        let checksums = match head(&self.file, &self.path, owner)? {
            Head::Current { .. } if len < valid_end => {
                return Err(Error::state(format!(
                    "{}: shorter than when it was read; refusing to append",
                    self.path.display()
                )))
            }
            Head::Current { checksums, .. } if len > valid_end => {
                warn(format!("{}: cut an invalid or torn last line", self.path.display()));
                self.file.set_len(valid_end).map_err(io)?;
                len = valid_end;
                checksums
            }
            // An earlier release's journal is written as it was begun.
            Head::Current { checksums, .. } => checksums,
            Head::None | Head::Folded => {
                self.file.set_len(0).map_err(io)?;
                len = 0;
                text.extend_from_slice(&header_line(owner));
                true
            }
        };
        for event in events {
            let start = text.len();
            serde_json::to_writer(&mut text, event).map_err(|err| Error::state(err.to_string()))?;
            if checksums {
                seal(&mut text, start);
            }
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
        let header = header_line(owner);
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

/// A new journal's header line for `owner`, declaring checksums, with its own.
fn header_line(owner: &Owner) -> Vec<u8> {
    let header = Header {
        epoch: owner.epoch,
        experiment: owner.experiment.clone(),
        checksums: Some(CHECKSUMS.to_string()),
        crc: None,
    };
    let mut line = serde_json::to_vec(&header).expect("header serializes");
    seal(&mut line, 0);
    line.push(b'\n');
    line
}

/// `,"crc":"` then 8 hex digits, then `"}`: how a sealed line ends.
const CRC_FIELD: &[u8] = b",\"crc\":\"";
const CRC_TAIL: usize = CRC_FIELD.len() + 8 + 2;

/// Seal the JSON object that starts at `start` in `text` (and ends it):
/// its closing brace gives way to `,"crc":"XXXXXXXX"}`, the CRC-32C of the
/// bytes before that field.
fn seal(text: &mut Vec<u8>, start: usize) {
    debug_assert!(text.len() > start + 2 && text.ends_with(b"}"), "a non-empty JSON object");
    text.pop();
    let crc = crc32c::crc32c(&text[start..]);
    text.extend_from_slice(CRC_FIELD);
    text.extend_from_slice(format!("{crc:08x}\"}}").as_bytes());
}

/// Whether `line` ends with the checksum of its bytes before it.
fn sealed(line: &[u8]) -> bool {
    let Some(body) = line.len().checked_sub(CRC_TAIL) else {
        return false;
    };
    let (body, tail) = line.split_at(body);
    let expected = format!("{:08x}\"}}", crc32c::crc32c(body));
    tail.strip_prefix(CRC_FIELD).is_some_and(|rest| rest == expected.as_bytes())
}

/// Judge the journal's header against the state it should extend. Only a
/// valid header of this experiment and an earlier epoch means "folded";
/// anything else but the current owner is exit 3, and the file is kept.
fn head(file: &File, path: &Path, owner: &Owner) -> Result<Head> {
    let line = first_line(file).map_err(|err| Error::io("cannot read", path, err))?;
    let Some(line) = line else {
        return Ok(Head::None);
    };
    let corrupt = |why: String| {
        Error::state(format!("{}: corrupt header ({why}); the journal is kept as it is", path.display()))
    };
    let header: Header = serde_json::from_slice(&line).map_err(|err| corrupt(err.to_string()))?;
    // A damaged declaration must not pass for none: either field asks for both.
    let checksums = header.checksums.is_some() || header.crc.is_some();
    if checksums {
        match header.checksums.as_deref() {
            Some(CHECKSUMS) => {}
            Some(other) => {
                return Err(Error::state(format!(
                    "{}: its lines carry {other:?} checksums, which this release of exp does not know (written by a later one?)",
                    path.display()
                )))
            }
            None => return Err(corrupt("a checksum without a declaration".into())),
        }
        if !sealed(&line) {
            return Err(corrupt("its checksum does not match".into()));
        }
    }
    let header = Owner { epoch: header.epoch, experiment: header.experiment };
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
        std::cmp::Ordering::Equal => Ok(Head::Current { end: line.len() as u64 + 1, checksums }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Params, Status};

    fn event(name: &str) -> Event {
        Event {
            name: name.to_string(),
            config: Config { status: Status::Done, ..Config::new(Params::new()) },
        }
    }

    fn owner() -> Owner {
        Owner { epoch: 3, experiment: Some("e1".into()) }
    }

    /// A journal of `owner()` with events `cfg1`, `cfg2`, as this release writes it.
    fn written(dir: &Path) -> PathBuf {
        let path = dir.join("journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        journal.reset(&owner()).unwrap();
        let end = std::fs::metadata(&path).unwrap().len();
        journal.append(&owner(), end, &[event("cfg1"), event("cfg2")]).unwrap();
        path
    }

    fn names(tail: &Tail) -> Vec<&str> {
        tail.events.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn a_sealed_line_is_json_with_its_checksum_last() {
        let mut line = br#"{"name":"cfg1"}"#.to_vec();
        seal(&mut line, 0);
        let expected = format!(r#"{{"name":"cfg1","crc":"{:08x}"}}"#, crc32c::crc32c(br#"{"name":"cfg1""#));
        assert_eq!(String::from_utf8(line.clone()).unwrap(), expected);
        assert!(sealed(&line));
        serde_json::from_slice::<serde_json::Value>(&line).unwrap();
        // Any one byte changed, the checksum or the text, is seen.
        for at in 0..line.len() {
            for flip in [0x01, 0x0f, 0x20, 0x80] {
                let mut damaged = line.clone();
                damaged[at] ^= flip;
                assert!(!sealed(&damaged), "byte {at} ^ {flip:#x}: {}", String::from_utf8_lossy(&damaged));
            }
        }
        assert!(!sealed(br#"{"name":"cfg1"}"#) && !sealed(b"") && !sealed(b"}"));
    }

    #[test]
    fn this_release_writes_every_line_with_a_checksum() {
        let tmp = tempfile::tempdir().unwrap();
        let path = written(tmp.path());
        let text = std::fs::read(&path).unwrap();
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|line| sealed(line)));
        let header: serde_json::Value = serde_json::from_slice(lines[0]).unwrap();
        assert_eq!(header["checksums"], "crc32c");
        assert_eq!(names(&Journal::read(&path, &owner(), 0).unwrap()), ["cfg1", "cfg2"]);
    }

    #[test]
    fn a_damaged_line_is_garbage_cut_when_last_exit_3_before() {
        let tmp = tempfile::tempdir().unwrap();
        let path = written(tmp.path());
        let text = std::fs::read_to_string(&path).unwrap();
        // cfg1's line (not the last), then cfg2's (the last), renamed by one byte.
        let first = text.replacen("\"cfg1\"", "\"cfh1\"", 1);
        std::fs::write(&path, &first).unwrap();
        let err = Journal::read(&path, &owner(), 0).err().expect("exit 3");
        assert!(err.message.contains("checksum"), "{err}");
        let last = text.replacen("\"cfg2\"", "\"cfh2\"", 1);
        std::fs::write(&path, &last).unwrap();
        let tail = Journal::read(&path, &owner(), 0).unwrap();
        assert_eq!(names(&tail), ["cfg1"]);
        // The next writer cuts it.
        let mut journal = Journal::open(&path).unwrap();
        journal.append(&owner(), tail.end, &[event("cfg3")]).unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(!after.contains("cfh2"), "{after}");
        assert_eq!(names(&Journal::read(&path, &owner(), 0).unwrap()), ["cfg1", "cfg3"]);
    }

    #[test]
    fn any_damaged_byte_of_the_header_is_exit_3() {
        let tmp = tempfile::tempdir().unwrap();
        let path = written(tmp.path());
        let text = std::fs::read(&path).unwrap();
        let header_len = text.iter().position(|&b| b == b'\n').unwrap();
        for at in 0..header_len {
            let mut damaged = text.clone();
            damaged[at] ^= 0x01;
            std::fs::write(&path, &damaged).unwrap();
            let read = Journal::read(&path, &owner(), 0);
            assert!(read.is_err(), "byte {at}: {}", String::from_utf8_lossy(&damaged[..header_len]));
        }
    }

    #[test]
    fn a_journal_without_checksums_loads_and_is_appended_to_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("journal.jsonl");
        let old = concat!(
            r#"{"epoch":3,"experiment":"e1"}"#,
            "\n",
            r#"{"name":"cfg1","config":{"status":"done"}}"#,
            "\n"
        );
        std::fs::write(&path, old).unwrap();
        let tail = Journal::read(&path, &owner(), 0).unwrap();
        assert_eq!(names(&tail), ["cfg1"]);
        let mut journal = Journal::open(&path).unwrap();
        journal.append(&owner(), tail.end, &[event("cfg2")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(old) && !text.contains("crc"), "{text}");
        assert_eq!(names(&Journal::read(&path, &owner(), 0).unwrap()), ["cfg1", "cfg2"]);
        // A later read from where the first ended sees the new line alone.
        assert_eq!(names(&Journal::read(&path, &owner(), tail.end).unwrap()), ["cfg2"]);
        // Restarted (a fold): with checksums from then on.
        journal.reset(&Owner { epoch: 4, ..owner() }).unwrap();
        let header = std::fs::read(&path).unwrap();
        assert!(sealed(&header[..header.len() - 1]), "{}", String::from_utf8_lossy(&header));
    }

    #[test]
    fn a_declared_checksum_this_release_does_not_know_is_exit_3() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("journal.jsonl");
        let mut line = br#"{"epoch":3,"experiment":"e1","checksums":"xxh3"}"#.to_vec();
        seal(&mut line, 0);
        line.push(b'\n');
        std::fs::write(&path, &line).unwrap();
        let err = Journal::read(&path, &owner(), 0).err().expect("exit 3");
        assert!(err.message.contains("xxh3"), "{err}");
    }
}
