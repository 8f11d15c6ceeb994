//! The results table, one row per config, that exp-summary prints and
//! that exp-run and exp-clean keep true in `results_summary.csv`.
//!
//! Columns: `name`, then every param, then every result field, each in the
//! order first seen; then `status` (with `--ignore-missing`), `duration`
//! in seconds (with `--timing`), and `git.commit`, `git.dirty`, `host`
//! from the config's latest `provenance.json` (with `--provenance`; empty
//! when it has none). Of several experiments ([`Source`]s), a
//! first column `experiment` (each one's label, the DIR as given), params
//! one lacks left empty. Nested objects are flattened with dots;
//! arrays (and empty objects) are written as JSON text. A key that holds a
//! dot or a quote, or is empty, is written JSON-quoted (`"a.b"`), so `{"a.b":1}`
//! and `{"a":{"b":2}}` get two columns. A param column that clashes with a
//! reserved column ([`RESERVED`], whatever the flags) is prefixed
//! `param.`, a result column that clashes with an earlier one `result.`;
//! nothing is ever overwritten and no header is blank.
//!
//! `--json` lines: `{"name","params","result"}` (params merged over the
//! defaults, result null when there is none), plus `status` and `duration`
//! with the same flags, `provenance` (the whole latest `provenance.json`,
//! null when none) with `--provenance`, and `experiment` first with several
//! experiments.
//!
//! The CSV is laid out by [`Table`], which keeps each row as a few bytes
//! until every column is known, and reads an experiment's state a line at
//! a time when it can ([`crate::store::stream`]), so a million configs fit
//! in tens of MB.

mod table;

pub use table::Table;

use crate::error::{Error, Result};
use crate::identity::merged;
use crate::model::{Config, Experiment, Status};
use crate::store::atomic::write_atomic;
use crate::store::{Cursor, Refresh, Store};
use crate::time::Timestamp;
use crate::values::display_value;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

pub const SUMMARY_FILE: &str = "results_summary.csv";

/// The columns a summary may have besides params and results, whatever
/// the flags: a param of one of these names is always `param.NAME`, so a
/// config's columns are named the same in every summary of it.
pub const RESERVED: &[&str] =
    &["name", "status", "duration", "experiment", "n", "attempt", "host", "git.commit", "git.dirty"];

/// One experiment of a summary. `label` is its `experiment` column (the
/// DIR as given); a summary of one experiment has none.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub label: Option<&'a str>,
    pub store: &'a Store,
    pub experiment: &'a Experiment,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Summarise configs that are not done too, with a `status` column.
    pub ignore_missing: bool,
    /// Add a `duration` column (seconds).
    pub timing: bool,
    /// `--raw`: text cells as they are, even those a spreadsheet would run.
    pub raw: bool,
    /// `--provenance`: add `git.commit`, `git.dirty` and `host`.
    pub provenance: bool,
}

/// The columns `--provenance` adds (reserved, see [`RESERVED`]).
const PROVENANCE_COLUMNS: [&str; 3] = ["git.commit", "git.dirty", "host"];

/// An experiment's label (of several) and its configs that are not done,
/// with their status.
pub type NotDone<'a> = (Option<&'a str>, Vec<(&'a str, Status)>);

/// The configs that are not done, which a summary without
/// `--ignore-missing` refuses.
pub fn not_done(experiment: &Experiment) -> Vec<(&str, Status)> {
    experiment
        .configs
        .iter()
        .filter(|(_, entry)| entry.status() != Status::Done)
        .map(|(name, entry)| (name.as_str(), entry.status()))
        .collect()
}

/// The result a config left, if it has ended (a todo or running config's
/// folder may hold a result of an earlier run, which is not its own).
pub fn result_of(store: &Store, name: &str, status: Status) -> Option<Value> {
    match status {
        Status::Done | Status::Failed => store.config_files(name).read_result(),
        Status::Todo | Status::Running => None,
    }
}

/// Say, once, what its run found wrong with an ended config's result (a
/// stdout line that looks like a result but is not JSON).
pub(crate) fn warn_about_result(name: &str, config: &Config) {
    if let Some(warning) = result_warning(name, config) {
        crate::report::warn_once(warning);
    }
}

/// What [`warn_about_result`] says of a config, if anything.
fn result_warning(name: &str, config: &Config) -> Option<String> {
    let warning = config.warning.as_ref()?;
    matches!(config.status, Status::Done | Status::Failed).then(|| format!("{name}: {warning}"))
}

/// Write the summary as CSV. `tick` is called once per config read, for a
/// progress display.
pub fn write_csv(
    store: &Store,
    experiment: &Experiment,
    options: Options,
    out: impl Write,
    tick: &mut dyn FnMut(),
) -> Result<()> {
    write_csv_many(&[Source { label: None, store, experiment }], options, out, tick)
}

/// Write the summary of several experiments as CSV, with a first column
/// `experiment` when any source has a label.
pub fn write_csv_many(
    sources: &[Source],
    options: Options,
    out: impl Write,
    tick: &mut dyn FnMut(),
) -> Result<()> {
    let mut table = Table::new(options);
    for source in sources {
        table.add(source.label, source.store, source.experiment)?;
    }
    table.read_files(tick)?;
    table.write_csv(out)
}

/// The `git.commit`, `git.dirty` and `host` of a config's latest
/// `provenance.json`; empty when it has none (or never ran).
fn provenance_cells(store: &Store, name: &str, has_run: bool) -> [String; 3] {
    let Some(provenance) = crate::provenance::latest_if_run(store, name, has_run) else {
        return Default::default();
    };
    let text = |value: Option<&Value>| value.filter(|v| !v.is_null()).map(display_value).unwrap_or_default();
    let git = provenance.get("git");
    [
        text(git.and_then(|git| git.get("commit"))),
        text(git.and_then(|git| git.get("dirty"))),
        text(provenance.get("host")),
    ]
}

/// Write the summary of several experiments as JSON Lines, each line
/// starting with `experiment` when its source has a label.
pub fn write_json_many(
    sources: &[Source],
    options: Options,
    mut out: impl Write,
    tick: &mut dyn FnMut(),
) -> Result<()> {
    let now = Timestamp::now();
    let configs =
        sources.iter().flat_map(|source| source.experiment.configs.iter().map(move |c| (source, c)));
    for (source, (name, entry)) in configs {
        let (store, experiment) = (source.store, source.experiment);
        tick();
        let config = entry.read()?;
        let mut line = Map::new();
        if let Some(label) = source.label {
            line.insert("experiment".into(), json!(label));
        }
        line.insert("name".into(), json!(name));
        line.insert("params".into(), Value::Object(merged(&experiment.defaults, &config.params)));
        warn_about_result(name, &config);
        line.insert("result".into(), result_of(store, name, config.status).unwrap_or(Value::Null));
        if options.ignore_missing {
            line.insert("status".into(), json!(config.status));
        }
        if options.timing {
            line.insert("duration".into(), json!(config.duration(&now)));
        }
        if options.provenance {
            let provenance = crate::provenance::latest(store, name, &config);
            line.insert("provenance".into(), provenance.map_or(Value::Null, Value::Object));
        }
        serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Write the summary as CSV to `path`, atomically.
pub fn save_to(
    path: &Path,
    store: &Store,
    experiment: &Experiment,
    options: Options,
    tick: &mut dyn FnMut(),
) -> Result<()> {
    let mut bytes = Vec::new();
    write_csv(store, experiment, options, &mut bytes, tick)?;
    write_atomic(path, &bytes)
}

/// Write `results_summary.csv` in the experiment, atomically.
pub fn save(store: &Store, experiment: &Experiment) -> Result<()> {
    save_to(&store.dir().join(SUMMARY_FILE), store, experiment, Options::default(), &mut || {})
}

/// What [`update_summary_file`] did to `results_summary.csv`.
#[derive(Debug, PartialEq, Eq)]
pub enum FileChange {
    Written,
    /// Removed, since not every config is done (or none is left).
    Removed,
    Unchanged,
}

/// Bring `results_summary.csv` in line with the experiment: written when
/// every config is done (when it is missing only if `create`), removed when
/// not. The results are read without the lock, and the file changes under
/// it only if nothing was recorded since `experiment` was read at `cursor`
/// (else it is decided again on the newer state), so a summary never
/// describes a state that a runner or a clean has left meanwhile.
pub fn update_summary_file(
    store: &mut Store,
    experiment: &mut Experiment,
    cursor: &mut Cursor,
    create: bool,
) -> Result<FileChange> {
    let path = store.dir().join(SUMMARY_FILE);
    // A busy experiment may change at every look: then another tool's
    // ending will see to the file.
    for _ in 0..3 {
        let all_done =
            !experiment.configs.is_empty() && experiment.configs.values().all(|c| c.status() == Status::Done);
        let exists = std::fs::symlink_metadata(&path).is_ok();
        let mut csv = None;
        if all_done && (create || exists) {
            let mut bytes = Vec::new();
            write_csv(store, experiment, Options::default(), &mut bytes, &mut || {})?;
            csv = Some(bytes);
        }
        let lock = store.lock()?;
        if !matches!(store.refresh(&lock, experiment, cursor)?, Refresh::Events(events) if events.is_empty())
        {
            continue;
        }
        return match csv {
            Some(bytes) => write_atomic(&path, &bytes).map(|()| FileChange::Written),
            None if !all_done && std::fs::symlink_metadata(&path).is_ok() => std::fs::remove_file(&path)
                .map(|()| FileChange::Removed)
                .map_err(|err| Error::io("cannot remove", &path, err)),
            None => Ok(FileChange::Unchanged),
        };
    }
    Ok(FileChange::Unchanged)
}

/// Remove `results_summary.csv`, if there is one: the experiment is not
/// all done (any more).
pub fn remove_summary_file(store: &Store) -> Result<()> {
    let path = store.dir().join(SUMMARY_FILE);
    match std::fs::remove_file(&path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(Error::io("cannot remove", &path, err)),
        _ => Ok(()),
    }
}

/// A CSV writer's error as ours: an I/O error as such.
pub(crate) fn csv_error(err: csv::Error) -> Error {
    match err.into_kind() {
        csv::ErrorKind::Io(err) => Error::from(err),
        other => Error::state(format!("cannot write CSV: {other:?}")),
    }
}

/// A text cell that a spreadsheet would take for a formula (it starts with
/// `=`, `+`, `-`, `@`, TAB or CR) gets a leading `'`, so it shows as text
/// and never runs. Numbers, `-0.5` among them, are left as they are.
pub(crate) fn inert(text: String) -> String {
    match is_formula(&text) {
        true => format!("'{text}"),
        false => text,
    }
}

/// Whether [`inert`] marks the text.
fn is_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
        && !matches!(serde_json::from_str::<Value>(text), Ok(Value::Number(_)))
}

/// Unique, never blank column headers, in the order they are added.
#[derive(Default)]
pub(crate) struct Columns {
    pub(crate) headers: Vec<String>,
    taken: HashSet<String>,
}

impl Columns {
    /// Columns with every [`RESERVED`] one taken.
    pub(crate) fn reserved() -> Columns {
        let mut columns = Columns::default();
        for fixed in RESERVED {
            columns.reserve(fixed);
        }
        columns
    }

    /// A fixed column, taken before any param or result.
    pub(crate) fn reserve(&mut self, header: &str) {
        self.taken.insert(header.to_string());
    }

    /// A column for `key`; on a clash, `SECTION.key`, then a number.
    pub(crate) fn add(&mut self, key: &str, section: &str) -> usize {
        let mut header = key.to_string();
        if self.taken.contains(&header) {
            header = format!("{section}.{key}");
        }
        let base = header.clone();
        let mut n = 2;
        while self.taken.contains(&header) {
            header = format!("{base}~{n}");
            n += 1;
        }
        self.taken.insert(header.clone());
        self.headers.push(header);
        self.headers.len() - 1
    }
}

/// Flatten nested objects into dotted keys; arrays and empty objects stay
/// whole (written as JSON text).
pub fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    flatten_with(prefix, value, &mut |key, value| out.push((key, value.clone())));
}

/// [`flatten`], each dotted key and its value handed to `each`.
fn flatten_with(prefix: &str, value: &Value, each: &mut dyn FnMut(String, &Value)) {
    match value {
        Value::Object(map) if !map.is_empty() || prefix.is_empty() => {
            for (key, value) in map {
                let segment = segment(key);
                let key = if prefix.is_empty() { segment } else { format!("{prefix}.{segment}") };
                flatten_with(&key, value, each);
            }
        }
        other => each(prefix.to_string(), other),
    }
}

/// A key as one segment of a dotted column name: JSON-quoted when it could
/// be mistaken for several segments or for nothing.
pub(crate) fn segment(key: &str) -> String {
    if key.is_empty() || key.contains(['.', '"']) || key.chars().any(char::is_control) {
        Value::String(key.to_string()).to_string()
    } else {
        key.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(value: Value) -> Vec<String> {
        let mut out = Vec::new();
        flatten("", &value, &mut out);
        out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    #[test]
    fn flattened_keys_never_collide() {
        assert_eq!(flat(json!({"a.b": 1, "a": {"b": 2}})), [r#""a.b"=1"#, "a.b=2"]);
        assert_eq!(
            flat(json!({"": 1, "x": {}, "y": [1, {"z": 2}]})),
            [r#"""=1"#, "x={}", r#"y=[1,{"z":2}]"#]
        );
    }

    #[test]
    fn formulas_are_made_inert_and_numbers_left_alone() {
        for (given, written) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-x", "'-x"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-0.5", "-0.5"),
            ("-1e-3", "-1e-3"),
            ("+1", "'+1"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(inert(given.to_string()), written, "{given:?}");
        }
    }

    #[test]
    fn clashing_columns_are_prefixed_then_numbered() {
        let mut columns = Columns::default();
        columns.reserve("name");
        assert_eq!(columns.add("lr", "param"), 0);
        columns.add("name", "param");
        columns.add("lr", "result");
        columns.add("result.lr", "param");
        columns.add("lr", "result");
        assert_eq!(columns.headers, ["lr", "param.name", "result.lr", "param.result.lr", "result.lr~2"]);
    }
}
