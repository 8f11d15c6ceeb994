//! `exp-clean`: remove configs no longer wanted, put configs back to todo,
//! and housekeeping; safe while runners work.
//!
//! Every change is made under the experiment's lock on an up-to-date state,
//! after dead runners' claims are recovered, so a running config is never
//! touched (it is reported as skipped) and no runner's event is lost; a
//! runner that later finds a config gone never brings it back. Folders of
//! removed configs stay on disk unless `--purge`.
//!
//! Printed lines: `{"name","action","status","params","purged"}`, where
//! `action` is `remove` or `reset`, `status` the config's status before,
//! and `purged` (removals only) whether its folder was deleted.

use crate::error::{Error, Result};
use crate::identity::{identity, merged};
use crate::model::{Experiment, Params, Status};
use crate::results::FileChange;
use crate::rows::Row;
use crate::runners::{recover_stale, Liveness};
use crate::store::journal::Event;
use crate::store::Store;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

/// What to clean.
#[derive(Debug, Default)]
pub struct Request {
    /// `--keep`: params of the configs to keep; every other one is removed.
    pub keep: Option<Vec<Row>>,
    /// `--names`: (line, name) pairs, removed (or reset with `reset`).
    pub names: Option<Vec<(usize, String)>>,
    /// `--reset`: the listed configs go back to todo instead of being removed.
    pub reset: bool,
    /// `--reset-failed`: every failed config goes back to todo.
    pub reset_failed: bool,
    pub dry_run: bool,
    pub purge: bool,
    pub stale_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Remove,
    Reset,
}

/// One config changed (or, in a dry run, to be changed).
#[derive(Debug, Serialize)]
pub struct Change {
    pub name: String,
    pub action: Action,
    pub status: Status,
    pub params: Params,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purged: Option<bool>,
    /// Whether it ever ran, so that a folder in its name is its own to purge.
    #[serde(skip)]
    pub has_run: bool,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub changes: Vec<Change>,
    /// Running configs that the request named or implied, left alone.
    pub skipped_running: Vec<String>,
    /// Configs listed for `--reset` that are todo already: nothing to change.
    pub already_todo: Vec<String>,
    /// Claims of dead runners put back to todo first.
    pub recovered: usize,
}

impl Request {
    /// Nothing but housekeeping was asked for.
    pub fn is_housekeeping(&self) -> bool {
        self.keep.is_none() && self.names.is_none() && !self.reset_failed
    }

    fn check(&self) -> Result<()> {
        if self.reset && self.names.is_none() {
            return Err(Error::usage("--reset needs --names: the configs to put back to todo"));
        }
        if self.keep.is_some() && self.names.is_some() {
            return Err(Error::usage("--keep and --names: give one list of configs"));
        }
        if self.purge && self.keep.is_none() && (self.names.is_none() || self.reset) {
            return Err(Error::usage(
                "--purge deletes the folders of removed configs: use it with --keep or --names",
            ));
        }
        Ok(())
    }
}

pub fn clean(store: &mut Store, request: &Request) -> Result<Outcome> {
    request.check()?;
    let liveness = Liveness::new(store, request.stale_after);
    let lock = store.lock()?;
    let (mut experiment, mut cursor) = store.load(&lock)?;
    if let Some(names) = &request.names {
        crate::select::check_names(&experiment, names)?;
    }
    let mut outcome = Outcome::default();
    if !request.dry_run {
        outcome.recovered = recover_stale(store, &lock, &mut cursor, &mut experiment, &liveness)?.len();
    }

    if request.is_housekeeping() {
        if !request.dry_run {
            housekeeping(store, &lock, &liveness, &mut experiment)?;
        }
        return Ok(outcome);
    }
    let (remove, reset) = plan(&experiment, request)?;
    for name in remove.iter().chain(&reset) {
        let config = experiment.configs[name].read()?;
        if config.status == Status::Running {
            outcome.skipped_running.push(name.clone());
            continue;
        }
        let action = if reset.contains(name) { Action::Reset } else { Action::Remove };
        if action == Action::Reset && config.status == Status::Todo {
            outcome.already_todo.push(name.clone());
            continue;
        }
        outcome.changes.push(Change {
            name: name.clone(),
            action,
            status: config.status,
            params: merged(&experiment.defaults, &config.params),
            purged: (action == Action::Remove).then_some(false),
            has_run: config.has_run(),
        });
    }
    if request.dry_run || outcome.changes.is_empty() {
        return Ok(outcome);
    }

    let mut events = Vec::new();
    let mut removed = false;
    for change in &outcome.changes {
        match change.action {
            Action::Reset => {
                let config =
                    experiment.configs.get_mut(&change.name).expect("planned from the state").get_mut()?;
                config.reset();
                events.push(Event { name: change.name.clone(), config: config.clone() });
            }
            Action::Remove => {
                experiment.configs.shift_remove(&change.name);
                removed = true;
            }
        }
    }
    if removed {
        // One rewrite records every change (resets included) atomically.
        cursor = store.fold(&lock, &mut experiment)?;
    } else {
        store.append(&lock, &mut cursor, &events)?;
        store.sync()?;
    }
    // Under the lock, the folders to purge are moved aside, so a config of
    // the same name added and started meanwhile keeps a folder of its own;
    // they are deleted after. The removal is recorded already: a folder that
    // cannot be purged is said, and left. A config that never ran made no
    // folder: one in its name was kept from an earlier config, and stays.
    let mut aside = Vec::new();
    if request.purge {
        for change in outcome.changes.iter_mut().filter(|c| c.action == Action::Remove && c.has_run) {
            match move_aside(store, &change.name) {
                Ok(Some(path)) => aside.push((path, change)),
                Ok(None) => {}
                Err(err) => crate::report::warn(format!("{} was removed, but {err}", change.name)),
            }
        }
    }
    drop(lock);
    for (path, change) in aside {
        change.purged = Some(match purge(&path) {
            Ok(()) => true,
            Err(err) => {
                crate::report::warn(format!("{} was removed, but its folder is left: {err}", change.name));
                false
            }
        });
    }
    // A results_summary.csv left by an earlier run no longer tells the
    // truth: written anew if every config is still done, else removed (the
    // next complete run, or exp-summary --save, writes it again).
    let file = crate::results::SUMMARY_FILE;
    let said = match crate::results::update_summary_file(store, &mut experiment, &mut cursor, false) {
        Ok(FileChange::Written) => Some("rewritten"),
        Ok(FileChange::Removed) if experiment.configs.is_empty() => Some("removed: no config is left"),
        Ok(FileChange::Removed) => Some("removed: not every config is done"),
        Ok(FileChange::Unchanged) => None,
        Err(err) => {
            crate::report::warn(format!("{file} is out of date: {err}"));
            None
        }
    };
    if let Some(said) = said {
        crate::report::note(format!("{file}: {said}"));
    }
    Ok(outcome)
}

/// The configs to remove and to reset, in the experiment's order.
fn plan(experiment: &Experiment, request: &Request) -> Result<(Vec<String>, Vec<String>)> {
    let listed: Option<HashSet<&str>> =
        request.names.as_ref().map(|names| names.iter().map(|(_, n)| n.as_str()).collect());
    let kept: Option<HashSet<String>> = request
        .keep
        .as_ref()
        .map(|rows| rows.iter().map(|row| identity(&experiment.defaults, &row.params)).collect());
    let mut matched: HashSet<String> = HashSet::new();
    let (mut remove, mut reset) = (Vec::new(), Vec::new());
    for (name, entry) in &experiment.configs {
        let is_listed = listed.as_ref().is_some_and(|l| l.contains(name.as_str()));
        let unkept = match &kept {
            Some(kept) => {
                let id = identity(&experiment.defaults, &entry.read()?.params);
                let keep = kept.contains(&id);
                if keep {
                    matched.insert(id);
                }
                !keep
            }
            None => false,
        };
        if (is_listed && !request.reset) || unkept {
            remove.push(name.clone());
        } else if (is_listed && request.reset) || (request.reset_failed && entry.status() == Status::Failed) {
            reset.push(name.clone());
        }
    }
    if let Some(rows) = &request.keep {
        check_keep(experiment, rows, &matched)?;
    }
    Ok((remove, reset))
}

/// A keep list that matches no config at all is a mistake (a number given
/// as a string, a key misspelt), never a wish to remove everything: refused.
/// Rows that match nothing are said.
fn check_keep(experiment: &Experiment, rows: &[Row], matched: &HashSet<String>) -> Result<()> {
    if !experiment.configs.is_empty() && matched.is_empty() {
        return Err(Error::usage(format!(
            "--keep: none of its {} line(s) is a config of the experiment (a number given as a string, a key \
             misspelt?); nothing removed",
            rows.len()
        )));
    }
    let unmatched = rows.iter().filter(|row| !matched.contains(&identity(&experiment.defaults, &row.params)));
    for row in unmatched.take(5) {
        crate::report::warn(format!("--keep: {}: no such config", row.origin()));
    }
    Ok(())
}

/// Move a removed config's folder to `configs/.purge-NAME-ID` (no config
/// name starts with a dot); None when it has no folder.
fn move_aside(store: &Store, name: &str) -> Result<Option<std::path::PathBuf>> {
    let dir = store.config_dir(name);
    if std::fs::symlink_metadata(&dir).is_err() {
        return Ok(None);
    }
    let aside = store.configs_dir().join(format!(".purge-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::rename(&dir, &aside).map_err(|err| Error::io("cannot move aside", &dir, err))?;
    Ok(Some(aside))
}

/// Delete a folder moved aside; a symlink in its place is removed, not followed.
fn purge(path: &std::path::Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|err| Error::io("cannot delete", path, err))?;
    let deleted = if meta.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    deleted.map_err(|err| Error::io("cannot delete", path, err))
}

/// With nothing else asked: fold the journal, forget dead runners, and
/// remove temporary files left by interrupted rewrites of the state.
fn housekeeping(
    store: &mut Store,
    lock: &crate::store::lock::Lock,
    liveness: &Liveness,
    experiment: &mut Experiment,
) -> Result<()> {
    if store.has_unfolded_events() {
        store.fold(lock, experiment)?;
    }
    liveness.forget_dead();
    store.remove_stale_temp_files(lock);
    Ok(())
}
