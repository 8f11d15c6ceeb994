//! The state a config at a time: what `exp-status --json` prints of an
//! experiment of ten million configs, in the memory of a few.
//!
//! A [`Snapshot`] holds the state file open as it was under the lock (a
//! rewrite renames a new file over it, so the open one stays as read), its
//! header, and the journal's events. Before anything is printed, a first
//! pass over the file checks what reading it whole would: exp's own layout,
//! the end line and its count, every name safe and given once (by 64-bit
//! hashes, 8 bytes a config). Then [`Snapshot::each`] reads it again, a
//! config at a time, the journal applied, in the order a whole read gives:
//! the state file's, then the configs added since in the journal's.
//!
//! Anything unusual (another layout, a damaged file, two names that hash
//! alike) is no snapshot: the caller reads the file whole, which either
//! loads it or says exactly what is wrong, as it always has.

use crate::error::{Error, Result};
use crate::hash::fnv1a;
use crate::model::{Claim, Config, Entry, Experiment, Status, Text, SCHEMA_VERSION};
use crate::store::index::StateId;
use crate::store::journal::{Event, Journal, Owner};
use crate::store::lock::Lock;
use crate::store::state_file::{end_count, scan_config, schema_version, split_key, END_PREFIX};
use crate::store::{atomic, check_event_names, Cursor, Store};
use crate::time::Timestamp;
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// How much of the file is read at a time (whole lines, so a bit more).
const CHUNK: usize = 1 << 20;

/// The state as it was under the lock, to read a config at a time.
pub struct Snapshot {
    /// The experiment without its configs.
    experiment: Experiment,
    path: PathBuf,
    file: File,
    /// Where the first config line starts; None when there are none.
    body: Option<u64>,
    events: Vec<Event>,
    cursor: Cursor,
    /// The running configs, the journal applied, in order.
    running: Vec<(String, Config)>,
}

impl Store {
    /// The state file, checked, and the journal's events on top of it, to
    /// be read a config at a time after the lock is let go. None when the
    /// file is not in exp's own layout or not whole: [`Store::census`] then
    /// reads it whole, which loads it or says what is wrong.
    pub fn snapshot(&self, _lock: &Lock) -> Result<Option<Snapshot>> {
        let path = self.state_path();
        let Some(file) = atomic::no_follow().read(true).open(&path).ok() else {
            return Ok(None);
        };
        let Ok(file) = atomic::regular(file, &path) else {
            return Ok(None);
        };
        let meta = file.metadata().map_err(|err| Error::io("cannot read", &path, err))?;
        let Some(survey) = survey(&file).map_err(|err| Error::io("cannot read", &path, err))? else {
            return Ok(None);
        };
        let Survey { experiment, body, names, running } = survey;
        let owner = Owner::of(&experiment);
        let read = Journal::read(&self.journal_path(), &owner, 0)?;
        check_event_names(&self.journal_path(), &read.events)?;
        let running = running_after(running, &read.events, &names);
        drop(names);
        let cursor = Cursor { state_file: StateId::of(&meta), owner, offset: read.end };
        Ok(Some(Snapshot { experiment, path, file, body, events: read.events, cursor, running }))
    }
}

impl Snapshot {
    /// The experiment without its configs (its defaults, its name).
    pub fn experiment(&self) -> &Experiment {
        &self.experiment
    }

    /// Where the snapshot stands: the changes after it are the watcher's.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// The running configs with their claims, in order.
    pub fn running(&self) -> impl Iterator<Item = (&String, Option<&Claim>)> {
        self.running.iter().map(|(name, config)| (name, config.runner.as_ref()))
    }

    /// Each config, the journal applied, in order: the state file's, then
    /// those added since, in the order they came.
    pub fn each(&self, mut f: impl FnMut(&str, &Entry) -> Result<()>) -> Result<()> {
        // The latest event of each name, in the order the names came.
        let mut latest: IndexMap<&str, &Config> = IndexMap::with_capacity(self.events.len());
        for event in &self.events {
            latest.insert(&event.name, &event.config);
        }
        let mut seen = vec![false; latest.len()];
        let corrupt = || Error::state(format!("{}: changed while it was read", self.path.display()));
        if let Some(body) = self.body {
            let mut chunks = Chunks { file: &self.file, at: body, pending: Vec::new() };
            'lines: while let Some(chunk) = chunks.next().map_err(|err| self.io(err))? {
                let chunk = Arc::new(String::from_utf8(chunk).map_err(|_| corrupt())?);
                let mut start = 0;
                for line in chunk.split_inclusive('\n') {
                    let range = start..start + line.len();
                    start = range.end;
                    let line = line.strip_suffix('\n').unwrap_or(line);
                    if line.starts_with(END_PREFIX) {
                        break 'lines;
                    }
                    let scanned = scan_config(line);
                    let (name, entry) = match scanned {
                        Some((name, status, text)) => {
                            let at = range.start + (text.as_ptr() as usize - line.as_ptr() as usize);
                            let text = Text::new(chunk.clone(), at..at + text.len());
                            (std::borrow::Cow::Borrowed(name), Entry::from_text(status, text))
                        }
                        None => {
                            let (name, config) = slow_line(line).ok_or_else(corrupt)?;
                            (std::borrow::Cow::Owned(name), Entry::new(config))
                        }
                    };
                    match latest.get_full(name.as_ref()) {
                        Some((i, _, config)) => {
                            seen[i] = true;
                            f(&name, &Entry::new((*config).clone()))?;
                        }
                        None => f(&name, &entry)?,
                    }
                }
            }
        }
        for ((name, config), seen) in latest.into_iter().zip(seen) {
            if !seen {
                f(name, &Entry::new(config.clone()))?;
            }
        }
        Ok(())
    }

    /// The whole state, as [`Store::load`] reads it (for a watcher that
    /// compares what comes next with it): read from the same file.
    pub fn load(&self) -> Result<Experiment> {
        let len = self.file.metadata().map_err(|err| self.io(err))?.len();
        let mut bytes = vec![0; len as usize];
        self.file.read_exact_at(&mut bytes, 0).map_err(|err| self.io(err))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::state(format!("{}: changed while it was read", self.path.display())))?;
        let parsed = crate::store::state_file::parse(Arc::new(text), &self.path)?;
        let mut experiment = parsed
            .into_experiment()
            .map_err(|err| Error::state(format!("{}: corrupt: {err}", self.path.display())))?;
        crate::store::journal::apply(&mut experiment, self.events.clone());
        Ok(experiment)
    }

    /// Put the running configs among `names` back to todo (their runner is
    /// gone), as [`crate::runners::recover`] does; the snapshot then shows
    /// them so. Must hold the exclusive lock the snapshot was taken under.
    pub fn interrupt(&mut self, store: &mut Store, lock: &Lock, names: &[String]) -> Result<usize> {
        let now = Timestamp::now();
        let mut events = Vec::new();
        for name in names {
            if let Some(at) = self.running.iter().position(|(running, _)| running == name) {
                let (name, mut config) = self.running.remove(at);
                config.interrupt(now);
                events.push(Event { name, config });
            }
        }
        if !events.is_empty() {
            store.append(lock, &mut self.cursor, &events)?;
            store.sync()?;
        }
        let count = events.len();
        self.events.extend(events);
        Ok(count)
    }

    fn io(&self, err: std::io::Error) -> Error {
        Error::io("cannot read", &self.path, err)
    }
}

/// What the first pass found: the file is whole, in exp's own layout.
struct Survey {
    experiment: Experiment,
    body: Option<u64>,
    /// Each config's name hashed, in order.
    names: Vec<u64>,
    /// The running configs with their place.
    running: Vec<(usize, String, Config)>,
}

/// Where a pass over the lines is.
#[derive(PartialEq)]
enum Part {
    Header,
    Configs,
    /// After the end line (or `configs: {}`): nothing more is read.
    Ended,
}

/// The first pass: Some when [`crate::store::state_file::parse`] would read
/// the file a line at a time without a complaint and its names are safe
/// and given once; None for anything else, to read it whole.
fn survey(file: &File) -> std::io::Result<Option<Survey>> {
    let mut chunks = Chunks { file, at: 0, pending: Vec::new() };
    let mut part = Part::Header;
    let mut top = serde_json::Map::new();
    let mut body = None;
    let mut names = Vec::new();
    let mut running = Vec::new();
    let mut offset = 0u64;
    let mut last = String::new();
    while let Some(chunk) = chunks.next()? {
        let Ok(chunk) = String::from_utf8(chunk) else {
            return Ok(None);
        };
        for whole in chunk.split_inclusive('\n') {
            let start = offset;
            offset += whole.len() as u64;
            let line = whole.strip_suffix('\n').unwrap_or(whole);
            // `str::lines` would drop a carriage return: read whole, to say so.
            if line.ends_with('\r') {
                return Ok(None);
            }
            if start == 0 && !schema_version(line).is_some_and(|v| (2..=SCHEMA_VERSION).contains(&v)) {
                return Ok(None);
            }
            match part {
                Part::Header => {
                    let Some((key, value)) = split_key(line) else {
                        return Ok(None);
                    };
                    match (key.as_str(), value) {
                        ("configs", "") => (part, body) = (Part::Configs, Some(offset)),
                        ("configs", "{}") => part = Part::Ended,
                        ("configs", _) => return Ok(None),
                        _ => match serde_json::from_str(value) {
                            Ok(value) => _ = top.insert(key, value),
                            Err(_) => return Ok(None),
                        },
                    }
                }
                Part::Configs if line.starts_with(END_PREFIX) => part = Part::Ended,
                Part::Configs => {
                    let (name, status, config) = match scan_config(line) {
                        Some((name, status, text)) => {
                            let config = match status {
                                Status::Running => match serde_json::from_str::<Config>(text) {
                                    Ok(config) if config.status == status => Some(config),
                                    _ => return Ok(None),
                                },
                                _ => None,
                            };
                            (std::borrow::Cow::Borrowed(name), status, config)
                        }
                        None => match slow_line(line) {
                            Some((name, config)) => {
                                (std::borrow::Cow::Owned(name), config.status, Some(config))
                            }
                            None => return Ok(None),
                        },
                    };
                    if !crate::naming::is_safe(&name) {
                        return Ok(None);
                    }
                    let hash = fnv1a(name.as_bytes());
                    if status == Status::Running {
                        running.push((names.len(), name.into_owned(), config.expect("parsed when running")));
                    }
                    names.push(hash);
                }
                Part::Ended => {}
            }
        }
        // Chunks end with whole lines: the last one's is the file's last.
        if let Some(tail) = chunk.split_inclusive('\n').next_back() {
            last.clear();
            last.push_str(tail);
        }
    }
    if part != Part::Ended || end_count(&last) != Some(names.len()) {
        return Ok(None);
    }
    let Ok(experiment) = serde_json::from_value::<Experiment>(Value::Object(top)) else {
        return Ok(None);
    };
    let mut sorted = names.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
        return Ok(None);
    }
    Ok(Some(Survey { experiment, body, names, running }))
}

/// A config line that is not in the plain shape [`scan_config`] reads (an
/// escaped name, say): parsed whole, as a whole read does.
fn slow_line(line: &str) -> Option<(String, Config)> {
    let (name, config) = split_key(line.strip_prefix("  ")?)?;
    Some((name, serde_json::from_str::<Config>(config).ok()?))
}

/// The running configs once the journal's events are applied, in the order
/// of the configs: a config's event takes its place in the state file.
fn running_after(
    state: Vec<(usize, String, Config)>,
    events: &[Event],
    names: &[u64],
) -> Vec<(String, Config)> {
    if events.is_empty() {
        return state.into_iter().map(|(_, name, config)| (name, config)).collect();
    }
    let mut latest: IndexMap<&str, &Config> = IndexMap::with_capacity(events.len());
    for event in events {
        latest.insert(&event.name, &event.config);
    }
    // Where the configs the journal left running stand in the state file.
    let wanted: HashMap<u64, &str> = latest
        .iter()
        .filter(|(_, config)| config.status == Status::Running)
        .map(|(name, _)| (fnv1a(name.as_bytes()), *name))
        .collect();
    let mut placed: HashMap<&str, usize> = HashMap::new();
    if !wanted.is_empty() {
        for (at, hash) in names.iter().enumerate() {
            if let Some(name) = wanted.get(hash) {
                placed.insert(name, at);
            }
        }
    }
    let mut running: Vec<(usize, String, Config)> =
        state.into_iter().filter(|(_, name, _)| !latest.contains_key(name.as_str())).collect();
    for (i, (name, config)) in latest.iter().enumerate() {
        if config.status == Status::Running {
            // Added since the fold: after every config of the state file.
            let at = placed.get(name).copied().unwrap_or(names.len() + i);
            running.push((at, name.to_string(), (*config).clone()));
        }
    }
    running.sort_by_key(|(at, ..)| *at);
    running.into_iter().map(|(_, name, config)| (name, config)).collect()
}

/// A file read a chunk of whole lines at a time, from `at` on (the last
/// chunk may end without a newline).
struct Chunks<'a> {
    file: &'a File,
    at: u64,
    pending: Vec<u8>,
}

impl Chunks<'_> {
    fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            let old = self.pending.len();
            self.pending.resize(old + CHUNK, 0);
            let read = loop {
                match self.file.read_at(&mut self.pending[old..], self.at) {
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                    read => break read,
                }
            };
            let n = read.inspect_err(|_| self.pending.truncate(old))?;
            self.pending.truncate(old + n);
            self.at += n as u64;
            if n == 0 {
                return Ok((!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending)));
            }
            if let Some(end) = self.pending[old..].iter().rposition(|&b| b == b'\n') {
                let rest = self.pending.split_off(old + end + 1);
                return Ok(Some(std::mem::replace(&mut self.pending, rest)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Params;
    use crate::store::state_file::{parse, render};
    use crate::store::tests::{event, store_with};

    #[test]
    fn each_gives_the_order_and_records_of_a_whole_read() {
        let (_tmp, mut store) = store_with(&["a", "b", "c"]);
        let lock = store.lock().unwrap();
        let (_, mut cursor) = store.load(&lock).unwrap();
        let events = [
            event("d", Status::Running),
            event("b", Status::Done),
            event("a", Status::Running),
            event("e", Status::Todo),
            event("d", Status::Failed),
        ];
        store.append(&lock, &mut cursor, &events).unwrap();
        let snapshot = store.snapshot(&lock).unwrap().expect("exp's own layout");
        let mut seen = Vec::new();
        snapshot
            .each(|name, entry| {
                seen.push((name.to_string(), entry.read()?.into_owned()));
                Ok(())
            })
            .unwrap();
        let (whole, _) = store.load(&lock).unwrap();
        let expected: Vec<(String, Config)> = whole
            .configs
            .iter()
            .map(|(name, entry)| (name.clone(), entry.read().unwrap().into_owned()))
            .collect();
        assert_eq!(seen, expected);
        let names: Vec<&str> = seen.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert_eq!(snapshot.running().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["a"]);
        assert_eq!(snapshot.load().unwrap(), whole);
    }

    #[test]
    fn a_file_is_surveyed_only_when_a_whole_read_takes_it() {
        let mut experiment = Experiment { id: Some("x".into()), ..Experiment::default() };
        for (i, status) in [Status::Done, Status::Running, Status::Todo].into_iter().enumerate() {
            let config = Config { status, ..Config::new(Params::new()) };
            experiment.configs.insert(format!("c{i}"), config.into());
        }
        let text = String::from_utf8(render(&experiment).unwrap()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("experiment.yaml");
        let survey_of = |text: &str| {
            std::fs::write(&path, text).unwrap();
            survey(&File::open(&path).unwrap()).unwrap()
        };
        for end in (0..text.len()).filter(|&end| text.is_char_boundary(end)) {
            assert!(survey_of(&text[..end]).is_none(), "a prefix of {end} bytes surveyed");
        }
        let whole = survey_of(&text).expect("the whole file");
        assert_eq!(whole.names.len(), 3);
        assert_eq!(
            whole.running.iter().map(|(at, name, _)| (*at, name.as_str())).collect::<Vec<_>>(),
            [(1, "c1")]
        );
        assert!(parse(Arc::new(text.clone()), &path).is_ok());
        // A name twice, or one line lost, is for the whole read to refuse.
        assert!(survey_of(&text.replace("\"c2\"", "\"c0\"")).is_none());
        assert!(survey_of(&text.replace("  \"c2\"", "# \"c2\"")).is_none());
    }
}
