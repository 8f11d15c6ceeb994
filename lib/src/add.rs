//! `exp-add`: add configs, all or nothing, deduplicated by identity.

use crate::error::{Error, Result};
use crate::grid::{product, Axis};
use crate::hash::PrehashedState;
use crate::identity::{identity, merged};
use crate::init::parse_defaults;
use crate::model::Experiment;
use crate::model::{Config, Params};
use crate::naming::new_name;
use crate::store::index::{identity_hash, name_hash};
use crate::store::journal::Event;
use crate::store::lock::Lock;
use crate::store::{Indexed, Store};
use crate::template::{check_keys, is_builtin, reads_param, CommandTemplate, Template, BUILTINS};
use serde::Serialize;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;

/// One requested config and where it came from, for error messages.
#[derive(Debug, Clone)]
pub struct Row {
    pub origin: String,
    pub params: Params,
}

/// What `exp-add` prints for each requested config.
#[derive(Debug, Serialize)]
pub struct Added {
    pub name: String,
    pub params: Params,
    pub added: bool,
}

/// Parse JSON Lines of params objects; blank lines are skipped.
pub fn read_json_lines(input: impl BufRead, source: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|err| Error::usage(format!("{source}: line {number}: {err}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let value = crate::values::parse_strict(&line)
            .map_err(|err| Error::usage(format!("{source}: line {number}: {err}")))?;
        let serde_json::Value::Object(params) = value else {
            return Err(Error::usage(format!("{source}: line {number}: expected a JSON object of params")));
        };
        rows.push(Row { origin: format!("{source}: line {number}"), params });
    }
    Ok(rows)
}

/// Cross each row with every combination of the grid axes (the grid alone
/// if there are no rows).
pub fn with_grid(rows: Option<Vec<Row>>, grid: &[String]) -> Result<Vec<Row>> {
    let axes = grid.iter().map(|g| Axis::parse(g)).collect::<Result<Vec<_>>>()?;
    for (i, axis) in axes.iter().enumerate() {
        if axes[..i].iter().any(|earlier| earlier.key == axis.key) {
            return Err(Error::usage(format!(
                "--grid {:?}: key {:?} is given by more than one --grid",
                grid[i], axis.key
            )));
        }
    }
    let points = product(&axes);
    let Some(rows) = rows else {
        return Ok(points
            .into_iter()
            .map(|params| Row {
                origin: format!("grid point {}", serde_json::Value::Object(params.clone())),
                params,
            })
            .collect());
    };
    if axes.is_empty() {
        return Ok(rows);
    }
    let mut crossed = Vec::with_capacity(rows.len() * points.len());
    for row in rows {
        for point in &points {
            let mut params = row.params.clone();
            for (key, value) in point {
                if params.insert(key.clone(), value.clone()).is_some() {
                    return Err(Error::usage(format!("{}: key {key:?} is also a --grid key", row.origin)));
                }
            }
            crossed.push(Row { origin: row.origin.clone(), params });
        }
    }
    Ok(crossed)
}

/// Add `rows` (and `defaults`, `KEY=VALUE`) to the experiment in one atomic
/// change. Any bad row fails the whole call and changes nothing.
pub fn add(store: &mut Store, rows: Vec<Row>, defaults: &[String]) -> Result<Vec<Added>> {
    let lock = store.lock()?;
    if defaults.is_empty() {
        if let Some(indexed) = store.indexed(&lock)? {
            if let Some(added) = add_indexed(store, &lock, indexed, &rows)? {
                return Ok(added);
            }
        }
    }
    add_loaded(store, &lock, rows, defaults)
}

/// What a new config must fit: the keys the command and env templates read,
/// and the naming template.
struct Templates {
    keys: Vec<String>,
    naming: Option<Template>,
}

impl Templates {
    fn of(experiment: &Experiment) -> Result<Templates> {
        let command = experiment.command.as_ref().map(CommandTemplate::parse).transpose()?;
        let naming = experiment.naming.as_deref().map(Template::parse).transpose()?;
        let env = experiment.env.values().map(|value| Template::parse(value)).collect::<Result<Vec<_>>>()?;
        let mut keys: Vec<String> = command
            .as_ref()
            .map(CommandTemplate::keys)
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect();
        keys.extend(env.iter().flat_map(Template::keys).map(str::to_string));
        Ok(Templates { keys, naming })
    }

    /// A row's params over the defaults, if they fill every template.
    fn fill(&self, defaults: &Params, row: &Row) -> Result<Params> {
        let all = merged(defaults, &row.params);
        check_keys(self.keys.iter().map(String::as_str), &all, &BUILTINS)
            .map_err(|err| err.context(&row.origin))?;
        if let Some(naming) = &self.naming {
            check_keys(naming.keys(), &all, &[]).map_err(|err| err.context(&row.origin))?;
        }
        Ok(all)
    }

    /// A name for a new config that `taken` does not hold.
    fn name(&self, all: &Params, identity: &str, row: &Row, taken: impl Fn(&str) -> bool) -> Result<String> {
        new_name(self.naming.as_ref(), all, identity, taken).map_err(|err| err.context(&row.origin))
    }
}

/// Add with the whole experiment loaded: when there is no index, when a new
/// default changes identities, or when a fold is due anyway.
fn add_loaded(store: &mut Store, lock: &Lock, rows: Vec<Row>, defaults: &[String]) -> Result<Vec<Added>> {
    let (mut experiment, mut cursor) = store.load(lock)?;
    let new_defaults = parse_defaults(&experiment.defaults, defaults)?;
    let defaults_changed = new_defaults != experiment.defaults;
    experiment.defaults = new_defaults;
    let templates = Templates::of(&experiment)?;

    let mut by_identity: HashMap<String, String> = HashMap::new();
    for (name, entry) in &experiment.configs {
        match by_identity.entry(identity(&experiment.defaults, &entry.read()?.params)) {
            Entry::Vacant(slot) => {
                slot.insert(name.clone());
            }
            // Only a new default can make two existing configs one.
            Entry::Occupied(first) if defaults_changed => {
                return Err(Error::usage(format!(
                    "--default {}: configs {:?} and {name:?} would become the same config",
                    defaults.join(" --default "),
                    first.get()
                )));
            }
            // An older file may hold duplicates: the first name stands for both.
            Entry::Occupied(_) => {}
        }
    }
    let mut new_names: HashSet<String> = HashSet::new();
    let mut results = Vec::with_capacity(rows.len());
    let mut events = Vec::new();
    for row in rows {
        let all = templates.fill(&experiment.defaults, &row)?;
        let id = identity(&experiment.defaults, &row.params);
        if let Some(name) = by_identity.get(&id) {
            results.push(Added { name: name.clone(), params: all, added: false });
            continue;
        }
        let name = templates.name(&all, &id, &row, |candidate| {
            experiment.configs.contains_key(candidate) || new_names.contains(candidate)
        })?;
        new_names.insert(name.clone());
        by_identity.insert(id, name.clone());
        events.push(Event { name: name.clone(), config: Config::new(row.params) });
        results.push(Added { name, params: all, added: true });
    }
    warn_unused_keys(&templates.keys, &results);
    // New defaults live in the state file's header; new configs go to the
    // journal, unless folding them in is due.
    if defaults_changed || store.fold_due(&cursor, 200 * events.len() as u64) {
        crate::store::journal::apply(&mut experiment, events);
        store.fold(lock, &mut experiment)?;
    } else if !events.is_empty() {
        store.append(lock, &mut cursor, &events)?;
        store.sync()?;
    }
    Ok(results)
}

/// Add to a big experiment from its index and journal, appending the new
/// configs to the journal, without reading the state file's configs. None
/// when that will not do: a row is already there (its name is in the state
/// file), or a fold is due.
fn add_indexed(store: &mut Store, lock: &Lock, indexed: Indexed, rows: &[Row]) -> Result<Option<Vec<Added>>> {
    let Indexed { experiment, index, events, mut cursor } = indexed;
    if store.fold_due(&cursor, 200 * rows.len() as u64) {
        return Ok(None);
    }
    let templates = Templates::of(&experiment)?;
    let defaults = &experiment.defaults;
    let mut names: HashSet<u128, PrehashedState> = index.records.iter().map(|r| r.name).collect();
    let mut identities: HashSet<u128, PrehashedState> = index.records.iter().map(|r| r.identity).collect();
    for event in &events {
        if names.insert(name_hash(&event.name)) {
            identities.insert(identity_hash(defaults, &event.config.params));
        }
    }
    let mut results = Vec::with_capacity(rows.len());
    let mut added = Vec::new();
    for row in rows {
        let all = templates.fill(defaults, row)?;
        let id = identity(defaults, &row.params);
        if !identities.insert(crate::hash::fnv1a_128(id.as_bytes())) {
            return Ok(None);
        }
        let name = templates.name(&all, &id, row, |candidate| names.contains(&name_hash(candidate)))?;
        names.insert(name_hash(&name));
        added.push(Event { name: name.clone(), config: Config::new(row.params.clone()) });
        results.push(Added { name, params: all, added: true });
    }
    warn_unused_keys(&templates.keys, &results);
    if !added.is_empty() {
        store.append(lock, &mut cursor, &added)?;
        store.sync()?;
    }
    Ok(Some(results))
}

/// A key that the command's templates never read is often a typo
/// (`dropuot=0.1`): say so once per key, unless the templates read no param
/// at all (the command then reads `EXP_PARAMS` itself).
fn warn_unused_keys(template_keys: &[String], added: &[Added]) {
    let reads_params: Vec<&str> =
        template_keys.iter().map(String::as_str).filter(|k| !is_builtin(k, &BUILTINS)).collect();
    if reads_params.is_empty() {
        return;
    }
    let mut warned = HashSet::new();
    for key in added.iter().flat_map(|a| a.params.keys()) {
        if !reads_params.iter().any(|used| reads_param(used, key)) && warned.insert(key.as_str()) {
            crate::report::warn(format!(
                "key {key:?} is not used by the command template (it still reaches the command in EXP_PARAMS and {})",
                crate::run::spawn::param_variable(key)
            ));
        }
    }
}

/// Whether stdin is a pipe or a file, whose lines `--grid` alone would ignore.
pub fn stdin_has_lines() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd).metadata().is_ok_and(|meta| meta.file_type().is_fifo() || meta.is_file())
}
