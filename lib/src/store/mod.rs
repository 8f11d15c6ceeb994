//! The experiment directory on disk: `experiment.yaml`, folded from an
//! append-only journal, under an advisory lock.
//!
//! Layout: `experiment.yaml` (the state), `configs/NAME/` (one folder per
//! config), and `.exp/` (`lock`, `journal.jsonl`, `runners/`). A status
//! change is one appended journal line, O(1) in the number of configs; a
//! fold rewrites `experiment.yaml` atomically and starts a new journal.

pub mod atomic;
pub mod census;
pub mod clock;
pub mod config_files;
pub mod folder;
pub mod index;
pub mod journal;
pub mod kept;
pub mod lock;
pub mod state_file;
pub mod stream;

use crate::error::{Error, Result};
use crate::hash::PrehashedState;
use crate::model::{Experiment, SCHEMA_VERSION};
use crate::report::warn;
use atomic::{ensure_dir, no_follow};
use census::Census;
use config_files::ConfigFiles;
use index::{Columns, Index, StateId};
use journal::{apply, Event, Journal, Owner};
use lock::Lock;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const STATE_FILE: &str = "experiment.yaml";

/// An experiment directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    journal: Option<Journal>,
    lock_file: Option<Arc<fs::File>>,
    lock_writable: bool,
}

/// Where a process's copy of the state stands relative to the files, so a
/// later refresh reads only what is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    state_file: StateId,
    owner: Owner,
    /// Just after the last journal line read and found valid.
    offset: u64,
}

/// The state of a big experiment as its index tells it: the experiment
/// without its configs, every config's hashes and status as of the last
/// fold, and the journal's events since.
pub struct Indexed {
    pub experiment: Experiment,
    pub index: Index,
    pub events: Vec<Event>,
    pub cursor: Cursor,
}

/// What a refresh found.
pub enum Refresh {
    /// New journal events, already applied.
    Events(Vec<Event>),
    /// `experiment.yaml` was rewritten (a fold); the state was read anew.
    Reloaded,
}

/// What changed since a cursor, read but not applied: what a watcher
/// needs to tell each change, in order, even across a fold.
pub enum Changes {
    /// Events appended to the journal since.
    Events(Vec<Event>),
    /// `experiment.yaml` was rewritten (a fold): the events that came
    /// before the fold and were not read yet (from the journals it kept,
    /// [`kept`], already in `state`), the state it holds, and the events
    /// of the journal started since, to apply on top of it.
    Rewritten { unread: Vec<Event>, state: Box<Experiment>, events: Vec<Event> },
}

/// What the state file and the journal look like to `stat`: two equal
/// stamps mean nothing was written in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    state_file: StateId,
    journal: Option<StateId>,
}

impl Store {
    /// Open an existing experiment, or fail with exit 3.
    pub fn open(dir: &Path) -> Result<Store> {
        let dir = absolute(dir);
        if !dir.join(STATE_FILE).is_file() {
            let why = if dir.is_dir() { "no experiment.yaml in it" } else { "no such directory" };
            return Err(Error::state(format!(
                "no experiment at {}: {why}; create one with exp-init {} -- CMD...",
                dir.display(),
                dir.display()
            )));
        }
        atomic::share_as(&dir);
        let store = Store { dir, journal: None, lock_file: None, lock_writable: false };
        // Nothing inside DIR is followed if it is a symlink, folders included.
        for inside in
            [store.internal_dir(), store.runners_dir(), store.configs_dir(), store.dir.join("snapshots")]
        {
            if fs::symlink_metadata(&inside).is_ok_and(|meta| !meta.is_dir()) {
                return Err(Error::state(format!(
                    "{} is not a directory (a symlink?); exp never follows one inside an experiment",
                    inside.display()
                )));
            }
        }
        Ok(store)
    }

    /// Create the directory layout, the first `experiment.yaml` and a fresh
    /// journal, unless another process created the experiment first: then
    /// its state is returned, read under the same lock.
    pub fn create(dir: &Path, experiment: &mut Experiment) -> Result<Option<Experiment>> {
        let dir = absolute(dir);
        // DIR itself may be a symlink to a directory; nothing inside it may.
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(|err| Error::io("cannot create", &dir, err))?;
        }
        atomic::share_as(&dir);
        let mut store = Store { dir, journal: None, lock_file: None, lock_writable: false };
        store.ensure_layout()?;
        let lock = store.lock()?;
        if store.state_path().exists() {
            return Ok(Some(store.load(&lock)?.0));
        }
        store.write_state(&lock, experiment)?;
        store.open_journal()?.reset(&Owner::of(experiment))?;
        Ok(None)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    pub fn internal_dir(&self) -> PathBuf {
        self.dir.join(".exp")
    }

    pub fn runners_dir(&self) -> PathBuf {
        self.internal_dir().join("runners")
    }

    pub fn configs_dir(&self) -> PathBuf {
        self.dir.join("configs")
    }

    pub fn config_dir(&self, name: &str) -> PathBuf {
        self.configs_dir().join(name)
    }

    pub fn config_files(&self, name: &str) -> ConfigFiles {
        ConfigFiles::new(&self.dir, name)
    }

    pub(crate) fn journal_path(&self) -> PathBuf {
        self.internal_dir().join("journal.jsonl")
    }

    fn index_path(&self) -> PathBuf {
        self.internal_dir().join("index")
    }

    fn ensure_layout(&self) -> Result<()> {
        ensure_dir(&self.internal_dir())?;
        ensure_dir(&self.runners_dir())?;
        ensure_dir(&self.configs_dir())
    }

    fn lock_path(&self) -> PathBuf {
        self.internal_dir().join("lock")
    }

    /// The lock file, opened once for writing.
    fn lock_file(&mut self) -> Result<Arc<fs::File>> {
        if let Some(file) = self.lock_file.as_ref().filter(|_| self.lock_writable) {
            return Ok(file.clone());
        }
        ensure_dir(&self.internal_dir())?;
        let lock::Opened::ReadWrite(file) = lock::open(&self.lock_path(), true)? else {
            unreachable!("open for writing fails rather than falling back")
        };
        let file = Arc::new(file);
        self.lock_file = Some(file.clone());
        self.lock_writable = true;
        Ok(file)
    }

    /// Take the exclusive lock, for a change.
    pub fn lock(&mut self) -> Result<Lock> {
        let file = self.lock_file()?;
        Lock::exclusive(&file, &self.lock_path())
    }

    /// Take a shared lock, for a consistent read.
    pub fn lock_shared(&mut self) -> Result<Lock> {
        if self.lock_file.is_none() {
            (self.lock_file, self.lock_writable) = match lock::open(&self.lock_path(), false)? {
                lock::Opened::ReadWrite(file) => (Some(Arc::new(file)), true),
                lock::Opened::ReadOnly(file) => (Some(Arc::new(file)), false),
                lock::Opened::Absent => (None, false),
            };
        }
        Lock::shared(self.lock_file.as_ref(), &self.lock_path())
    }

    /// A consistent read of the whole state, under a shared lock.
    pub fn read(&mut self) -> Result<(Experiment, Cursor)> {
        let lock = self.lock_shared()?;
        self.load(&lock)
    }

    /// Read `experiment.yaml` and the journal on top of it.
    pub fn load(&self, lock: &Lock) -> Result<(Experiment, Cursor)> {
        let (mut experiment, events, cursor) = self.load_unapplied(lock)?;
        apply(&mut experiment, events);
        Ok((experiment, cursor))
    }

    /// `experiment.yaml`, and the journal's events apart.
    fn load_unapplied(&self, _lock: &Lock) -> Result<(Experiment, Vec<Event>, Cursor)> {
        let (parsed, events, cursor) = self.read_files()?;
        let path = self.state_path();
        let experiment = parsed
            .into_experiment()
            .map_err(|err| Error::state(format!("{}: corrupt: {err}", path.display())))?;
        Ok((experiment, events, cursor))
    }

    /// Every config's name and status in order, the journal applied, without
    /// building a map of them: what counting them needs, for a fraction of
    /// the cost of [`Store::load`]. Must hold the lock.
    pub fn census(&self, _lock: &Lock) -> Result<Census> {
        let (parsed, events, _) = self.read_files()?;
        Census::new(parsed, events, &self.state_path())
    }

    /// The state file (its names checked) and the journal's events on top of it.
    fn read_files(&self) -> Result<(state_file::Parsed, Vec<Event>, Cursor)> {
        let path = self.state_path();
        let (text, meta) = no_follow()
            .read(true)
            .open(&path)
            .and_then(|file| {
                let mut file =
                    atomic::regular(file, &path).map_err(|err| std::io::Error::other(err.message))?;
                let mut text = String::new();
                std::io::Read::read_to_string(&mut file, &mut text)?;
                Ok((text, file.metadata()?))
            })
            .map_err(|err| Error::io("cannot read", &path, err))?;
        let parsed = state_file::parse(std::sync::Arc::new(text), &path)?;
        if parsed.checked_names.is_none() {
            if let Some((name, _)) = parsed.configs.iter().find(|(name, _)| !crate::naming::is_safe(name)) {
                return Err(unsafe_name(&path, name));
            }
        }
        let owner = Owner::of(&parsed.experiment);
        let read = Journal::read(&self.journal_path(), &owner, 0)?;
        check_event_names(&self.journal_path(), &read.events)?;
        Ok((parsed, read.events, Cursor { state_file: StateId::of(&meta), owner, offset: read.end }))
    }

    /// Bring `experiment` up to date, reading only new journal lines unless
    /// the state file was rewritten since `cursor`.
    pub fn refresh(&self, lock: &Lock, experiment: &mut Experiment, cursor: &mut Cursor) -> Result<Refresh> {
        match self.read_changes(lock, cursor, false)? {
            Changes::Events(events) => {
                apply(experiment, events.clone());
                Ok(Refresh::Events(events))
            }
            Changes::Rewritten { state, events, .. } => {
                *experiment = *state;
                apply(experiment, events);
                Ok(Refresh::Reloaded)
            }
        }
    }

    /// What changed since `cursor` (which moves past it), not applied:
    /// only new journal lines are read, unless the state file was rewritten;
    /// then also the lines the folds since kept that `cursor` had not reached.
    pub fn changes(&self, lock: &Lock, cursor: &mut Cursor) -> Result<Changes> {
        self.read_changes(lock, cursor, true)
    }

    fn read_changes(&self, lock: &Lock, cursor: &mut Cursor, unread: bool) -> Result<Changes> {
        let path = self.state_path();
        let meta = fs::metadata(&path).map_err(|err| Error::io("cannot read", &path, err))?;
        let journal_len = fs::metadata(self.journal_path()).map(|m| m.len()).unwrap_or(0);
        if StateId::of(&meta) == cursor.state_file && journal_len >= cursor.offset {
            // Nothing new: the common case, twice per config in a run.
            if journal_len == cursor.offset {
                return Ok(Changes::Events(Vec::new()));
            }
            let read = Journal::read(&self.journal_path(), &cursor.owner, cursor.offset)?;
            cursor.offset = read.end;
            check_event_names(&self.journal_path(), &read.events)?;
            return Ok(Changes::Events(read.events));
        }
        let (state, events, new_cursor) = self.load_unapplied(lock)?;
        let unread = match unread && new_cursor.owner.epoch > cursor.owner.epoch {
            true => kept::unread(&self.internal_dir(), &cursor.owner, cursor.offset, new_cursor.owner.epoch),
            false => Vec::new(),
        };
        // Names are paths to be: a kept line with an unsafe one is not used.
        let unread = match check_event_names(&self.journal_path(), &unread) {
            Ok(()) => unread,
            Err(_) => Vec::new(),
        };
        *cursor = new_cursor;
        Ok(Changes::Rewritten { unread, state: Box::new(state), events })
    }

    /// The stamp of the state file and the journal as they are now: a stat
    /// of each, no lock, so a watcher polls for next to nothing.
    pub fn stamp(&self) -> Result<Stamp> {
        let path = self.state_path();
        let meta = fs::metadata(&path).map_err(|err| Error::io("cannot read", &path, err))?;
        let journal = fs::metadata(self.journal_path()).ok().map(|meta| StateId::of(&meta));
        Ok(Stamp { state_file: StateId::of(&meta), journal })
    }

    /// Record status changes: one appended write, O(1) in the number of
    /// configs. A caught-up cursor moves past our own lines.
    pub fn append(&mut self, lock: &Lock, cursor: &mut Cursor, events: &[Event]) -> Result<()> {
        debug_assert!(lock.is_exclusive());
        let (start, end) = self.open_journal()?.append(&cursor.owner, cursor.offset, events)?;
        if start == cursor.offset {
            cursor.offset = end;
        }
        Ok(())
    }

    /// Force appended events to disk (group commit).
    pub fn sync(&mut self) -> Result<()> {
        match &mut self.journal {
            Some(journal) => journal.sync(),
            None => Ok(()),
        }
    }

    /// Whether the journal holds events that `experiment.yaml` lacks.
    pub fn has_unfolded_events(&self) -> bool {
        Journal::has_events(&self.journal_path())
    }

    /// Whether folding the journal into `experiment.yaml` is worth its cost
    /// now (after `extra` more bytes of events): always for a small state,
    /// which stays current for people who read it; for a big one, once the
    /// journal has grown to a fraction of it, like a database checkpoint, so
    /// a status change or an added config never costs a rewrite of it all.
    pub fn fold_due(&self, cursor: &Cursor, extra: u64) -> bool {
        const SMALL_STATE: u64 = 1 << 20;
        let unfolded = extra > 0 || self.has_unfolded_events();
        unfolded && (cursor.state_file.len < SMALL_STATE || self.journal_outgrew_state(cursor, extra))
    }

    /// Whether the journal (with `extra` more bytes) has outgrown an eighth
    /// of the state file, and 1 MiB: a fold is due even in the middle of a
    /// run. Not before 1 MiB: every fold makes every other runner read the
    /// state anew, and 32 runners on a small experiment spent more on that
    /// than on their commands.
    pub fn journal_outgrew_state(&self, cursor: &Cursor, extra: u64) -> bool {
        const FOLD_RATIO: u64 = 8;
        const JOURNAL_FLOOR: u64 = 8 << 20;
        (cursor.offset + extra) * FOLD_RATIO > cursor.state_file.len.max(JOURNAL_FLOOR)
    }

    /// How long until a group commit is due, if anything is unsynced.
    pub fn sync_due(&self) -> Option<std::time::Duration> {
        self.journal.as_ref().and_then(Journal::sync_due)
    }

    /// Write `experiment` (the whole current state, journal included) as the
    /// new `experiment.yaml` and start an empty journal. Returns the new cursor.
    ///
    /// What the fold needs is checked first (the journal must open for
    /// writing), so a failure changes nothing. Once the new state is in
    /// place the change is made; a journal that cannot be restarted then is
    /// only a warning (its older epoch marks it as folded).
    pub fn fold(&mut self, lock: &Lock, experiment: &mut Experiment) -> Result<Cursor> {
        self.fold_knowing(lock, experiment, &HashMap::default())
    }

    /// [`Store::fold`], given the identities (by name, as 128-bit hashes) of
    /// configs whose identity the caller computed already, for the index.
    pub fn fold_knowing(
        &mut self,
        lock: &Lock,
        experiment: &mut Experiment,
        known: &HashMap<u128, u128, PrehashedState>,
    ) -> Result<Cursor> {
        if experiment.partial {
            return Err(Error::state("only part of the experiment was read; it is not written back"));
        }
        self.open_journal()?;
        let earlier = self.state_id().ok().and_then(|state| {
            self.read_index(&state, Columns { names: true, identities: true, ..Columns::default() })
        });
        let folded = experiment.journal_epoch;
        let offsets = self.write_state(lock, experiment)?;
        // For watchers, best effort: without it, they see the fold's result.
        if self.has_unfolded_events() {
            let _ = kept::keep(&self.dir, &self.journal_path(), folded);
        }
        let meta = fs::metadata(self.state_path())
            .map_err(|err| Error::io("cannot read", &self.state_path(), err))?;
        let owner = Owner::of(experiment);
        if let Err(err) = self.open_journal()?.reset(&owner) {
            warn(format!("{} was written; the journal it replaces could not be cleared: {err}", STATE_FILE));
        }
        // Derived data: if it cannot be written, the next reader rebuilds it.
        let index = Index::build(experiment, StateId::of(&meta), offsets, earlier.as_ref(), known)
            .and_then(|index| index.write(&self.index_path()));
        if let Err(err) = index {
            warn(format!("the index of {STATE_FILE} could not be written ({err}); it will be rebuilt"));
        }
        Ok(Cursor {
            state_file: StateId::of(&meta),
            owner,
            offset: fs::metadata(self.journal_path()).map(|m| m.len()).unwrap_or(0),
        })
    }

    /// Rewrite `experiment.yaml` atomically, in a new epoch; an experiment
    /// without an id (Delphyne's) gets one. Returns where each config's
    /// line starts.
    fn write_state(&mut self, lock: &Lock, experiment: &mut Experiment) -> Result<Vec<u64>> {
        debug_assert!(lock.is_exclusive());
        experiment.schema_version = SCHEMA_VERSION;
        experiment.journal_epoch += 1;
        experiment.id.get_or_insert_with(|| uuid::Uuid::new_v4().simple().to_string());
        atomic::write_atomic_with(&self.state_path(), |file| state_file::render_into(experiment, file))
    }

    fn state_id(&self) -> Result<StateId> {
        let path = self.state_path();
        fs::metadata(&path).map(|meta| StateId::of(&meta)).map_err(|err| Error::io("cannot read", &path, err))
    }

    /// The index, if it was built from the state file as it is now.
    fn read_index(&self, state: &StateId, columns: Columns) -> Option<Index> {
        Index::read(&self.index_path(), columns).filter(|index| index.built_from(state))
    }

    /// The state as the index (the `columns` asked for) and the journal
    /// tell it, without reading the configs of the state file: None when
    /// there is no index for the state file as it is (it is then read
    /// whole, and the next fold writes one).
    pub fn indexed(&self, _lock: &Lock, columns: Columns) -> Result<Option<Indexed>> {
        let state = self.state_id()?;
        let Some(index) = self.read_index(&state, columns) else {
            return Ok(None);
        };
        let Some(experiment) = state_file::read_header(&self.state_path())? else {
            return Ok(None);
        };
        if !index.describes(&experiment, &state) {
            return Ok(None);
        }
        let owner = Owner::of(&experiment);
        let read = Journal::read(&self.journal_path(), &owner, 0)?;
        check_event_names(&self.journal_path(), &read.events)?;
        let cursor = Cursor { state_file: state, owner, offset: read.end };
        Ok(Some(Indexed { experiment, index, events: read.events, cursor }))
    }

    /// The config whose line starts at `offset` in the state file (an
    /// offset the index gives). Must hold the lock.
    pub fn config_at(&self, lock: &Lock, offset: u64) -> Result<(String, crate::model::Config)> {
        let mut configs = self.configs_at(lock, &[offset])?;
        configs.pop().ok_or_else(|| Error::state("no config line read"))
    }

    /// The configs whose lines start at `offsets` in the state file.
    pub fn configs_at(&self, _lock: &Lock, offsets: &[u64]) -> Result<Vec<(String, crate::model::Config)>> {
        let path = self.state_path();
        let file = no_follow().read(true).open(&path).map_err(|err| Error::io("cannot read", &path, err))?;
        let file = atomic::regular(file, &path)?;
        let read = |&offset: &u64| {
            let line =
                index::read_line_at(&file, offset).map_err(|err| Error::io("cannot read", &path, err))?;
            state_file::parse_config_line(&line).map_err(|err| err.context(path.display()))
        };
        offsets.iter().map(read).collect()
    }

    /// Remove temporary files left by rewrites of the state that were
    /// interrupted: every rewrite happens under the exclusive lock, so with
    /// it held, any such file is stale.
    pub fn remove_stale_temp_files(&self, lock: &Lock) {
        debug_assert!(lock.is_exclusive());
        let prefix = format!(".{STATE_FILE}.tmp.");
        for entry in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn open_journal(&mut self) -> Result<&mut Journal> {
        if self.journal.is_none() {
            self.ensure_layout()?;
            self.journal = Some(Journal::open(&self.journal_path())?);
        }
        Ok(self.journal.as_mut().expect("just opened"))
    }
}

pub(crate) fn check_event_names(path: &Path, events: &[Event]) -> Result<()> {
    match events.iter().find(|e| !crate::naming::is_safe(&e.name)) {
        Some(event) => Err(unsafe_name(path, &event.name)),
        None => Ok(()),
    }
}

fn unsafe_name(path: &Path, name: &str) -> Error {
    Error::state(format!("{}: config name {name:?} is not a safe folder name", path.display()))
}

fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Config, Params, Status};

    /// An event that puts config `name` in `status`.
    pub(crate) fn event(name: &str, status: Status) -> Event {
        Event { name: name.to_string(), config: Config { status, ..Config::new(Params::new()) } }
    }

    /// A new experiment at `TMP/exp` with configs `names`, opened.
    pub(crate) fn store_with(names: &[&str]) -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let mut experiment = Experiment::default();
        for name in names {
            experiment.configs.insert(name.to_string(), Config::new(Params::new()).into());
        }
        assert!(Store::create(&tmp.path().join("exp"), &mut experiment).unwrap().is_none());
        let store = Store::open(&tmp.path().join("exp")).unwrap();
        (tmp, store)
    }

    #[test]
    fn appended_events_survive_and_fold_into_the_state_file() {
        let (_tmp, mut store) = store_with(&["a", "b"]);
        let lock = store.lock().unwrap();
        let (mut experiment, mut cursor) = store.load(&lock).unwrap();
        // A writer applies its own events in memory; its cursor moves past them.
        experiment.configs.get_mut("a").unwrap().get_mut().unwrap().status = Status::Done;
        store.append(&lock, &mut cursor, &[event("a", Status::Done)]).unwrap();
        assert!(store.has_unfolded_events());
        let (reloaded, _) = store.load(&lock).unwrap();
        assert_eq!(reloaded.configs["a"].status(), Status::Done);

        store.refresh(&lock, &mut experiment, &mut cursor).unwrap();
        cursor = store.fold(&lock, &mut experiment).unwrap();
        assert!(!store.has_unfolded_events());
        store.append(&lock, &mut cursor, &[event("b", Status::Failed)]).unwrap();
        let (after, _) = store.load(&lock).unwrap();
        assert_eq!(after.configs["a"].status(), Status::Done);
        assert_eq!(after.configs["b"].status(), Status::Failed);
    }

    #[test]
    fn a_journal_left_by_a_crashed_fold_is_not_replayed() {
        let (_tmp, mut store) = store_with(&["a"]);
        let lock = store.lock().unwrap();
        let (mut experiment, mut cursor) = store.load(&lock).unwrap();
        store.append(&lock, &mut cursor, &[event("a", Status::Failed)]).unwrap();
        // The fold wrote the new state, then "crashed" before restarting the journal.
        experiment.configs.get_mut("a").unwrap().get_mut().unwrap().status = Status::Todo;
        store.write_state(&lock, &mut experiment).unwrap();
        let (after, mut cursor) = store.load(&lock).unwrap();
        assert_eq!(after.configs["a"].status(), Status::Todo);
        store.append(&lock, &mut cursor, &[event("a", Status::Done)]).unwrap();
        assert_eq!(store.load(&lock).unwrap().0.configs["a"].status(), Status::Done);
    }

    #[test]
    fn a_torn_last_line_is_skipped_then_cut() {
        let (_tmp, mut store) = store_with(&["a", "b"]);
        let lock = store.lock().unwrap();
        let (_, mut cursor) = store.load(&lock).unwrap();
        store.append(&lock, &mut cursor, &[event("a", Status::Done)]).unwrap();
        let mut journal = fs::OpenOptions::new().append(true).open(store.journal_path()).unwrap();
        std::io::Write::write_all(&mut journal, br#"{"name":"b","config":{"sta"#).unwrap();
        let (experiment, mut cursor) = store.load(&lock).unwrap();
        assert_eq!(experiment.configs["a"].status(), Status::Done);
        assert_eq!(experiment.configs["b"].status(), Status::Todo);
        store.append(&lock, &mut cursor, &[event("b", Status::Done)]).unwrap();
        let (experiment, _) = store.load(&lock).unwrap();
        assert_eq!(experiment.configs["b"].status(), Status::Done);
        let text = fs::read_to_string(store.journal_path()).unwrap();
        assert!(text.lines().all(|line| serde_json::from_str::<serde_json::Value>(line).is_ok()));
    }

    #[test]
    fn a_reader_of_a_stale_journal_follows_the_restarted_one() {
        let (tmp, mut reader) = store_with(&["a", "b"]);
        let journal = reader.journal_path();
        // A journal of an older epoch, long enough that a wrong offset would
        // land inside a later line.
        let id = reader.read().unwrap().0.id.unwrap();
        let stale = format!(
            "{{\"epoch\":0,\"experiment\":\"{id}\"}}\n{}\n",
            r#"{"name":"b","config":{"status":"done"}}"#.repeat(3)
        );
        fs::write(&journal, stale).unwrap();
        let lock = reader.lock_shared().unwrap();
        let (mut experiment, mut cursor) = reader.load(&lock).unwrap();
        drop(lock);
        assert_eq!(experiment.configs["b"].status(), Status::Todo);

        let mut writer = Store::open(&tmp.path().join("exp")).unwrap();
        let lock = writer.lock().unwrap();
        let (_, mut writer_cursor) = writer.load(&lock).unwrap();
        for status in [Status::Running, Status::Failed, Status::Todo, Status::Done] {
            writer.append(&lock, &mut writer_cursor, &[event("a", status)]).unwrap();
        }
        drop(lock);

        let lock = reader.lock_shared().unwrap();
        reader.refresh(&lock, &mut experiment, &mut cursor).unwrap();
        assert_eq!(experiment.configs["a"].status(), Status::Done);
        assert_eq!(experiment.configs["b"].status(), Status::Todo);
    }
}
