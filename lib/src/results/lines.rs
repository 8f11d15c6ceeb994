//! An experiment's configs in order, the journal applied, read a line at a
//! time from `experiment.yaml` instead of held whole: what a summary of a
//! million configs needs, without the file's text and a map of its configs
//! in memory.
//!
//! It takes exp's own layout of this schema only, and never decides that a
//! file is corrupt: on anything it does not take (another layout, a line it
//! cannot read, a miscount, a name given twice, a journal it cannot read)
//! it says [`Read::Whole`], and the caller reads the state whole
//! ([`Store::read`]), which accepts the file or names what is wrong. The
//! configs it has handed out by then must be forgotten.
//!
//! The state file is opened and the journal read under the shared lock;
//! the rest of the file is read after it is released, from the file
//! opened: a fold replaces the file by a rename, so what is read is the
//! state the journal extends, whatever is written meanwhile.

use crate::error::Result;
use crate::hash::fnv1a;
use crate::model::{Config, Experiment, SCHEMA_VERSION};
use crate::store::atomic::{no_follow, regular};
use crate::store::journal::{Journal, Owner};
use crate::store::{check_event_names, state_file, Store};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader};

/// The state file after its header, and the journal's events.
pub(crate) struct Lines {
    /// The experiment without its configs.
    pub(crate) experiment: Experiment,
    reader: BufReader<File>,
    /// The latest event of each name, in the order first seen.
    latest: IndexMap<String, Option<Config>>,
}

/// How a reading ended.
pub(crate) enum Read {
    /// Every config was handed out.
    Lines,
    /// Read the state whole instead (see the module docs).
    Whole,
}

/// A big buffer: the state file is read in few system calls.
const BUFFER: usize = 1 << 18;

impl Lines {
    /// The state file opened after its header, and the journal read; None
    /// when the state must be read whole.
    pub(crate) fn open(store: &mut Store) -> Result<Option<Lines>> {
        let lock = store.lock_shared()?;
        let path = store.state_path();
        let Ok(file) = no_follow().read(true).open(&path) else { return Ok(None) };
        let Ok(file) = regular(file, &path) else { return Ok(None) };
        let mut reader = BufReader::with_capacity(BUFFER, file);
        let Some(experiment) = header(&mut reader) else { return Ok(None) };
        let journal = store.journal_path();
        let Ok(read) = Journal::read(&journal, &Owner::of(&experiment), 0) else { return Ok(None) };
        if check_event_names(&journal, &read.events).is_err() {
            return Ok(None);
        }
        drop(lock);
        let mut latest = IndexMap::new();
        for event in read.events {
            latest.insert(event.name, Some(event.config));
        }
        Ok(Some(Lines { experiment, reader, latest }))
    }

    /// Hand every config to `each`, in order, with the experiment.
    pub(crate) fn read(mut self, each: &mut dyn FnMut(&Experiment, &str, &Config)) -> Read {
        let mut line = String::new();
        let mut hashes = Vec::new();
        loop {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => return Read::Whole,
                Ok(_) => {}
            }
            // As `str::lines` splits the whole text, but the end line as
            // it is: the last line of the file, with its line break.
            let text = line.strip_suffix('\n').unwrap_or(&line);
            if state_file::is_end_line(text) {
                let whole = line.ends_with('\n') && self.at_end();
                match state_file::end_line_count(text) {
                    Some(count) if whole && count == hashes.len() => break,
                    _ => return Read::Whole,
                }
            }
            let text = text.strip_suffix('\r').unwrap_or(text);
            let Some((name, config)) = config_line(text, &mut self.latest) else { return Read::Whole };
            if !crate::naming::is_safe(&name) {
                return Read::Whole;
            }
            hashes.push(fnv1a(name.as_bytes()));
            each(&self.experiment, &name, &config);
        }
        // A name given twice: the whole reading says so, exactly.
        hashes.sort_unstable();
        if hashes.windows(2).any(|pair| pair[0] == pair[1]) {
            return Read::Whole;
        }
        // Configs added since the fold are in the journal only.
        for (name, config) in &self.latest {
            if let Some(config) = config {
                each(&self.experiment, name, config);
            }
        }
        Read::Lines
    }

    /// Whether nothing follows.
    fn at_end(&mut self) -> bool {
        matches!(self.reader.fill_buf(), Ok(rest) if rest.is_empty())
    }
}

/// The lines before the configs, up to `configs:`, as the whole reading
/// takes them; None when they are not in exp's layout of this schema.
fn header(reader: &mut impl BufRead) -> Option<Experiment> {
    let mut top = Map::new();
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let text = line.strip_suffix('\n').unwrap_or(&line);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let ours = |v: u32| (2..=SCHEMA_VERSION).contains(&v);
        if std::mem::take(&mut first) && !state_file::schema_version(text).is_some_and(ours) {
            return None;
        }
        let (key, value) = state_file::split_key(text)?;
        if key == "configs" {
            // `configs: {}` (none) is left to the whole reading.
            return match value.is_empty() {
                true => serde_json::from_value(Value::Object(top)).ok(),
                false => None,
            };
        }
        top.insert(key, serde_json::from_str(value).ok()?);
    }
}

/// A config line: its name, and its config, the journal's latest when it
/// has one (a line of the usual shape is then not parsed, as the whole
/// reading would not parse it either).
fn config_line<'a>(
    line: &'a str,
    latest: &mut IndexMap<String, Option<Config>>,
) -> Option<(Cow<'a, str>, Config)> {
    let (name, scanned, text) = match state_file::scan_config(line) {
        Some((name, status, text)) => (Cow::Borrowed(name), Some(status), text),
        None => {
            let (name, text) = state_file::split_key(line.strip_prefix("  ")?)?;
            (Cow::Owned(name), None, text)
        }
    };
    let newer = match latest.is_empty() {
        true => None,
        false => latest.get_mut(name.as_ref()).and_then(Option::take),
    };
    match (newer, scanned) {
        (Some(newer), Some(_)) => Some((name, newer)),
        (newer, _) => {
            let config: Config = serde_json::from_str(text).ok()?;
            if scanned.is_some_and(|status| status != config.status) {
                return None;
            }
            Some((name, newer.unwrap_or(config)))
        }
    }
}
