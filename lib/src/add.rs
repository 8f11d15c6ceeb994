//! `exp-add`: add configs, all or nothing, deduplicated by identity.

mod known;

use crate::error::{Error, Result};
use crate::grid::{product, Axis};
use crate::hash::PrehashedState;
use crate::identity::{identity, merged};
use crate::model::{Config, Entry as ModelEntry, Experiment, Params, Status, Text};
use crate::naming::new_name;
use crate::rows::{json_lines, Origin, Row};
use crate::store::index::{name_hash, Columns};
use crate::store::journal::Event;
use crate::store::lock::Lock;
use crate::store::{Cursor, Indexed, Store};
use crate::template::{check_keys, is_builtin, reads_param, CommandTemplate, Template, BUILTINS, DEVICES};
use crate::values::parse_defaults;
use known::{Known, Place};
use serde::Serialize;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;

/// What `exp-add` did: one JSON line `{"name","params","added"}` per
/// requested config, ready to print once the change is made.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Lines,
    pub added: usize,
    pub present: usize,
    /// The param keys of the requested configs, for the unused-key warning,
    /// each with whether some value of it is a scalar (and so also gets
    /// its own `EXP_PARAM_<KEY>`).
    keys: HashMap<String, bool>,
    /// The sets of scalar keys seen (as hashes), each checked once for keys
    /// that share a variable, and the keys found sharing one, by variable.
    key_sets: HashSet<u64>,
    shared: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl Report {
    /// `name` is None for a fresh UUID that a dry run does not make.
    fn line(&mut self, name: Option<&str>, params: &Params, added: bool) {
        #[derive(Serialize)]
        struct Line<'a> {
            name: Option<&'a str>,
            params: &'a Params,
            added: bool,
        }
        self.lines.push(&Line { name, params, added });
        let mut key_set = crate::hash::fnv1a(b"");
        for (key, value) in params {
            let scalar = !(value.is_array() || value.is_object());
            match self.keys.get_mut(key) {
                Some(seen) => *seen |= scalar,
                None => {
                    self.keys.insert(key.clone(), scalar);
                }
            }
            if scalar {
                key_set = key_set.rotate_left(5) ^ crate::hash::fnv1a(key.as_bytes());
            }
        }
        if self.key_sets.insert(key_set) {
            self.find_shared(params);
        }
        if added {
            self.added += 1;
        } else {
            self.present += 1;
        }
    }
}

/// The report's lines, in memory while few, then in an anonymous
/// temporary file: ten million of them need not be held until the change
/// is made and they may be printed.
#[derive(Debug, Default)]
pub struct Lines {
    memory: Vec<u8>,
    spilled: Option<std::io::BufWriter<std::fs::File>>,
}

/// Bytes of lines kept in memory before they go to a temporary file.
const LINES_IN_MEMORY: usize = 64 << 20;

impl Lines {
    fn push(&mut self, line: &impl Serialize) {
        serde_json::to_writer(&mut self.memory, line).expect("a line serializes");
        self.memory.push(b'\n');
        if self.memory.len() >= LINES_IN_MEMORY {
            // Without a temporary file they stay in memory: slower, not wrong.
            if self.spilled.is_none() {
                self.spilled = tempfile::tempfile().ok().map(std::io::BufWriter::new);
            }
            if let Some(file) = &mut self.spilled {
                if std::io::Write::write_all(file, &self.memory).is_ok() {
                    self.memory.clear();
                }
            }
        }
    }

    /// Write every line to `out`, in order (once: they are then gone).
    pub fn write_to(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        if let Some(file) = self.spilled.take() {
            let mut file = file.into_inner().map_err(|err| err.into_error())?;
            std::io::Seek::rewind(&mut file)?;
            std::io::copy(&mut file, out)?;
        }
        out.write_all(&std::mem::take(&mut self.memory))
    }
}

impl Report {
    /// Scalar params whose `EXP_PARAM_<KEY>` is one variable (`a-b`, `a_b`).
    fn find_shared(&mut self, params: &Params) {
        let mut by_variable: HashMap<String, &String> = HashMap::new();
        for (key, value) in params {
            if value.is_array() || value.is_object() {
                continue;
            }
            let variable = crate::template::param_variable(key);
            if let Some(other) = by_variable.insert(variable.clone(), key) {
                let keys = self.shared.entry(variable).or_default();
                keys.insert(other.clone());
                keys.insert(key.clone());
            }
        }
    }

    /// Say once per variable which keys share it.
    fn warn_shared(&self) {
        for (variable, keys) in &self.shared {
            let keys: Vec<String> = keys.iter().map(|key| format!("{key:?}")).collect();
            let (all, but) = if keys.len() == 2 { ("both", "one") } else { ("all", "all but one") };
            crate::report::warn(format!(
                "params {} {all} set {variable}, which holds only one of their values (EXP_PARAMS holds \
                 each); rename {but} to tell them apart there",
                keys.join(" and ")
            ));
        }
    }
}

/// The rows to add: each line of `input` crossed with every combination of
/// the grid axes, or the grid alone without input. Produced one at a time,
/// so a million rows are never all held at once.
pub fn rows<'a>(
    input: Option<(Box<dyn BufRead + 'a>, String)>,
    grid: &[String],
) -> Result<Box<dyn Iterator<Item = Result<Row>> + 'a>> {
    let axes = grid.iter().map(|g| Axis::parse(g)).collect::<Result<Vec<_>>>()?;
    for (i, axis) in axes.iter().enumerate() {
        if axes[..i].iter().any(|earlier| earlier.key == axis.key) {
            return Err(Error::usage(format!(
                "--grid {:?}: key {:?} is given by more than one --grid",
                grid[i], axis.key
            )));
        }
    }
    let points = product(&axes)?;
    let Some((input, source)) = input else {
        return Ok(Box::new(points.into_iter().map(|params| Ok(Row { origin: Origin::Grid, params }))));
    };
    let lines = json_lines(input, &source);
    if axes.is_empty() {
        return Ok(Box::new(lines));
    }
    Ok(Box::new(lines.flat_map(move |row| -> Vec<Result<Row>> {
        let row = match row {
            Ok(row) => row,
            Err(err) => return vec![Err(err)],
        };
        let crossed = points.iter().map(|point| {
            let mut params = row.params.clone();
            for (key, value) in point {
                if params.insert(key.clone(), value.clone()).is_some() {
                    return Err(Error::usage(format!("{}: key {key:?} is also a --grid key", row.origin())));
                }
            }
            Ok(Row { origin: row.origin.clone(), params })
        });
        crossed.collect()
    })))
}

/// How `exp-add` adds.
#[derive(Debug, Default)]
pub struct Options<'a> {
    /// New defaults, `KEY=VALUE`.
    pub defaults: &'a [String],
    /// The keys `--sample` draws, which no default may have.
    pub drawn: Vec<String>,
    /// Say what would be added, and change nothing.
    pub dry_run: bool,
}

/// Add `rows` (and `defaults`, `KEY=VALUE`) to the experiment in one atomic
/// change. Any bad row fails the whole call and changes nothing.
pub fn add(
    store: &mut Store,
    rows: impl Iterator<Item = Result<Row>>,
    defaults: &[String],
) -> Result<Report> {
    add_with(store, rows, &Options { defaults, ..Options::default() })
}

/// [`add`], as `options` say.
pub fn add_with(
    store: &mut Store,
    rows: impl Iterator<Item = Result<Row>>,
    options: &Options,
) -> Result<Report> {
    let defaults = options.defaults;
    let lock = if options.dry_run { store.lock_shared()? } else { store.lock()? };
    let columns = Columns { names: true, identities: true, offsets: true, statuses: false };
    let indexed = if defaults.is_empty() { store.indexed(&lock, columns)? } else { None };
    let (mut base, mut known, defaults_changed) = match indexed {
        Some(mut indexed) => {
            let known = Known::of_index(&mut indexed);
            (Base::Indexed { indexed: Box::new(indexed), read: HashMap::new() }, known, false)
        }
        None => {
            let (mut experiment, cursor) = store.load(&lock)?;
            let new_defaults = parse_defaults(&experiment.defaults, defaults)?;
            let changed = new_defaults != experiment.defaults;
            experiment.defaults = new_defaults;
            let known = Known::of_experiment(&experiment, changed.then_some(defaults))?;
            (Base::Loaded { experiment: Box::new(experiment), cursor }, known, changed)
        }
    };
    let header = base.experiment();
    let templates = Templates::of(header)?;
    let defaults = header.defaults.clone();
    if let Some(key) = options.drawn.iter().find(|key| defaults.contains_key(*key)) {
        return Err(Error::usage(format!(
            "--dist {key}: key {key:?} has a default; a drawn key cannot have one"
        )));
    }

    let mut new = NewConfigs::default();
    let mut report = Report::default();
    for row in rows {
        let row = row?;
        let all = templates.fill(&defaults, &row)?;
        let id = identity(&defaults, &row.params);
        let hash = crate::hash::identity_hash(&id);
        // A hash says where the config may be; its identity says whether it is.
        let same = |place| Ok(base.identity_of(store, &lock, place, &new)? == id);
        known.map_if_busy();
        if let Some(place) = known.find(hash, same)? {
            // In a dry run, a config new in this very input has no name yet
            // unless its naming template gives one.
            let unnamed = options.dry_run && templates.naming.is_none() && matches!(place, Place::New(_));
            let name = base.name_of(store, &lock, place, &new)?;
            report.line((!unnamed).then_some(&name), &all, false);
            continue;
        }
        let name = templates.name(&all, &id, &row, |candidate| known.name_taken(name_hash(candidate)))?;
        let fresh_uuid = options.dry_run && templates.naming.is_none();
        report.line((!fresh_uuid).then_some(&name), &all, true);
        known.names.insert(name_hash(&name));
        known.insert(hash, Place::New(new.configs.len()));
        known.by_name.push((name_hash(&name), hash));
        new.push(name, &Config::new(row.params))?;
    }
    templates.warn_unused(&report);
    report.warn_shared();
    if options.dry_run {
        return Ok(report);
    }

    // New defaults live in the state file's header; new configs go to the
    // journal, unless folding them in is due.
    let cursor = base.cursor().clone();
    if defaults_changed || store.fold_due(&cursor, new.text.len() as u64) {
        // Only the identities computed here serve from now on: the maps go
        // before the whole experiment is loaded and rewritten.
        let by_name = std::mem::take(&mut known.by_name);
        drop(known);
        let mut experiment = match base {
            Base::Loaded { experiment, .. } => *experiment,
            Base::Indexed { .. } => store.load(&lock)?.0,
        };
        experiment.configs.extend(new.into_entries()?);
        let known: HashMap<u128, u128, PrehashedState> = by_name.into_iter().collect();
        store.fold_knowing(&lock, &mut experiment, &known)?;
    } else if !new.configs.is_empty() {
        let mut cursor = cursor;
        store.append(&lock, &mut cursor, &new.events()?)?;
        store.sync()?;
    }
    Ok(report)
}

/// What the new configs are added to.
enum Base {
    /// The whole experiment: a small one, one without an index, or new defaults.
    Loaded { experiment: Box<Experiment>, cursor: Cursor },
    /// A big one as its index tells it; its configs are read from the
    /// state file only if a row turns out to be there already.
    /// Configs of the state file read (at the index's offsets) so far.
    Indexed { indexed: Box<Indexed>, read: HashMap<usize, (String, ModelEntry)> },
}

impl Base {
    fn experiment(&self) -> &Experiment {
        match self {
            Base::Loaded { experiment, .. } => experiment,
            Base::Indexed { indexed, .. } => &indexed.experiment,
        }
    }

    fn cursor(&self) -> &Cursor {
        match self {
            Base::Loaded { cursor, .. } => cursor,
            Base::Indexed { indexed, .. } => &indexed.cursor,
        }
    }

    /// The name of the config at `place`.
    fn name_of(&mut self, store: &Store, lock: &Lock, place: Place, new: &NewConfigs) -> Result<String> {
        Ok(match (place, self.config_at(store, lock, place)?) {
            (Place::New(n), _) => new.configs[n].0.clone(),
            (_, Some((name, _))) => name.to_string(),
            (_, None) => return Err(lost()),
        })
    }

    /// The identity of the config at `place`.
    fn identity_of(&mut self, store: &Store, lock: &Lock, place: Place, new: &NewConfigs) -> Result<String> {
        let defaults = self.experiment().defaults.clone();
        let params = match (place, self.config_at(store, lock, place)?) {
            (Place::New(n), _) => new.config(n)?.params,
            (_, Some((_, entry))) => entry.read()?.params.clone(),
            (_, None) => return Err(lost()),
        };
        Ok(identity(&defaults, &params))
    }

    /// The name and entry of an existing config (None for a new one).
    fn config_at(&mut self, store: &Store, lock: &Lock, place: Place) -> Result<Option<(&str, ModelEntry)>> {
        Ok(match (self, place) {
            (_, Place::New(_)) => None,
            (Base::Loaded { experiment, .. }, Place::Existing(n)) => {
                let (name, entry) = experiment.configs.get_index(n).ok_or_else(lost)?;
                Some((name.as_str(), entry.clone()))
            }
            (Base::Indexed { indexed, .. }, Place::Event(n)) => {
                let event = &indexed.events[n];
                Some((event.name.as_str(), ModelEntry::new(event.config.clone())))
            }
            (Base::Indexed { indexed, read }, Place::Existing(n)) => {
                if let MapEntry::Vacant(slot) = read.entry(n) {
                    let offset = *indexed.index.offsets.get(n).ok_or_else(lost)?;
                    let (name, config) = store.config_at(lock, offset).map_err(|_| lost())?;
                    slot.insert((name, ModelEntry::new(config)));
                }
                read.get(&n).map(|(name, entry)| (name.as_str(), entry.clone()))
            }
            (Base::Loaded { .. }, Place::Event(_)) => {
                unreachable!("a loaded experiment has its events applied")
            }
        })
    }
}

fn lost() -> Error {
    Error::state("the index disagrees with experiment.yaml; delete DIR/.exp/index (it is rebuilt)")
}

/// What a new config must fit: the keys the command and env templates read,
/// and the naming template.
struct Templates {
    keys: Vec<String>,
    naming: Option<Template>,
}

impl Templates {
    fn of(experiment: &Experiment) -> Result<Templates> {
        let command = experiment.command.as_ref().map(CommandTemplate::parse_stored).transpose()?;
        let naming = experiment.naming.as_deref().map(Template::parse).transpose()?;
        let env = experiment.env.values().map(|value| Template::parse(value)).collect::<Result<Vec<_>>>()?;
        let command_keys = command.as_ref().map(CommandTemplate::keys).unwrap_or_default();
        let mut keys: Vec<String> = command_keys.into_iter().map(str::to_string).collect();
        keys.extend(env.iter().flat_map(Template::keys).map(str::to_string));
        Ok(Templates { keys, naming })
    }

    /// A row's params over the defaults, if they fill every template.
    fn fill(&self, defaults: &Params, row: &Row) -> Result<Params> {
        let all = merged(defaults, &row.params);
        check_keys(self.keys.iter().map(String::as_str), &all, &BUILTINS)
            .map_err(|err| err.context(row.origin()))?;
        if let Some(naming) = &self.naming {
            check_keys(naming.keys(), &all, &[]).map_err(|err| err.context(row.origin()))?;
        }
        Ok(all)
    }

    /// A name for a new config that `taken` does not hold.
    fn name(&self, all: &Params, identity: &str, row: &Row, taken: impl Fn(&str) -> bool) -> Result<String> {
        new_name(self.naming.as_ref(), all, identity, taken).map_err(|err| err.context(row.origin()))
    }

    /// A key that the templates never read is often a typo (`dropuot=0.1`):
    /// say so once per key, unless the command and env templates read no
    /// param at all (the command then reads `EXP_PARAMS` itself). A key
    /// the naming template reads is used.
    fn warn_unused(&self, report: &Report) {
        let mut reads: Vec<&str> =
            self.keys.iter().map(String::as_str).filter(|k| !is_builtin(k, &BUILTINS)).collect();
        if reads.is_empty() {
            return;
        }
        reads.extend(self.naming.iter().flat_map(Template::keys));
        // {devices} reads a param of that name when there is one.
        reads.extend(self.keys.iter().map(String::as_str).filter(|k| crate::template::field(k) == DEVICES));
        let mut unused: Vec<(&String, bool)> = report
            .keys
            .iter()
            .filter(|(key, _)| !reads.iter().any(|used| reads_param(used, key)))
            .map(|(key, &scalar)| (key, scalar))
            .collect();
        unused.sort();
        for (key, scalar) in unused {
            let shares = report.shared.values().any(|keys| keys.contains(key));
            let own = if scalar && !shares {
                format!(" and {}", crate::template::param_variable(key))
            } else {
                String::new()
            };
            crate::report::warn(format!(
                "key {key:?} is not used by the command template (it still reaches the command in EXP_PARAMS{own})"
            ));
        }
    }
}

/// New configs as their JSON text, one buffer for all: a million of them
/// cost their text, not a million parsed maps.
#[derive(Default)]
struct NewConfigs {
    text: Vec<u8>,
    configs: Vec<(String, std::ops::Range<usize>)>,
}

impl NewConfigs {
    fn push(&mut self, name: String, config: &Config) -> Result<()> {
        let start = self.text.len();
        crate::store::state_file::write_json(&mut self.text, config)?;
        self.configs.push((name, start..self.text.len()));
        Ok(())
    }

    /// The n-th new config.
    fn config(&self, n: usize) -> Result<Config> {
        serde_json::from_slice(&self.text[self.configs[n].1.clone()]).map_err(|e| Error::state(e.to_string()))
    }

    /// The new configs as journal events.
    fn events(&self) -> Result<Vec<Event>> {
        let event = |(name, range): &(String, std::ops::Range<usize>)| {
            let config =
                serde_json::from_slice(&self.text[range.clone()]).map_err(|e| Error::state(e.to_string()))?;
            Ok(Event { name: name.clone(), config })
        };
        self.configs.iter().map(event).collect()
    }

    /// The new configs as entries of the experiment.
    fn into_entries(self) -> Result<impl Iterator<Item = (String, ModelEntry)>> {
        // serde_json writes UTF-8.
        let text =
            std::sync::Arc::new(String::from_utf8(self.text).map_err(|e| Error::state(e.to_string()))?);
        let entry = move |range| ModelEntry::from_text(Status::Todo, Text::new(text.clone(), range));
        Ok(self.configs.into_iter().map(move |(name, range)| (name, entry(range))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::COLLIDING;
    use serde_json::json;

    /// Identity hashes that collide (1,024 of them), as 128-bit ones never do.
    struct Colliding;

    impl Colliding {
        fn start() -> Colliding {
            COLLIDING.with(|c| c.set(true));
            Colliding
        }
    }

    impl Drop for Colliding {
        fn drop(&mut self) {
            COLLIDING.with(|c| c.set(false));
        }
    }

    fn rows(range: std::ops::Range<usize>) -> impl Iterator<Item = Result<Row>> {
        // Long values: 1,500 configs make a state file past 1 MiB, so that
        // later adds go to the journal, read back through the index.
        let pad = "p".repeat(800);
        range.map(move |i| {
            let params = json!({"i": i, "pad": pad}).as_object().unwrap().clone();
            Ok(Row { origin: Origin::Grid, params })
        })
    }

    fn names(report: &mut Report) -> Vec<(String, bool)> {
        let mut bytes = Vec::new();
        report.lines.write_to(&mut bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        text.lines()
            .map(|line| {
                let line: serde_json::Value = serde_json::from_str(line).unwrap();
                (line["name"].as_str().unwrap().to_string(), line["added"].as_bool().unwrap())
            })
            .collect()
    }

    /// Trust round 3, found the same day: exp-add took a config for one it had when
    /// their identity hashes matched; with hashes that collide, no config is
    /// lost and every duplicate is still found (loaded, indexed, journal).
    #[test]
    fn configs_whose_identity_hashes_collide_are_never_dropped() {
        let _colliding = Colliding::start();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("exp");
        let mut experiment = Experiment::default();
        assert!(Store::create(&dir, &mut experiment).unwrap().is_none());
        let mut store = Store::open(&dir).unwrap();

        // Loaded: a small experiment.
        let mut first = add(&mut store, rows(0..1500), &[]).unwrap();
        assert_eq!((first.added, first.present), (1500, 0));
        let first = names(&mut first);
        // Indexed, then appended to the journal (the state is past 1 MiB).
        let mut again = add(&mut store, rows(0..1600), &[]).unwrap();
        assert_eq!((again.added, again.present), (100, 1500));
        let again = names(&mut again);
        assert_eq!(again[..1500], first.iter().map(|(n, _)| (n.clone(), false)).collect::<Vec<_>>()[..]);
        // Indexed, with configs added since the fold in the journal.
        let mut third = add(&mut store, rows(1500..1700), &[]).unwrap();
        assert_eq!((third.added, third.present), (100, 100));
        assert_eq!(
            names(&mut third)[..100],
            again[1500..].iter().map(|(n, _)| (n.clone(), false)).collect::<Vec<_>>()[..]
        );
        // A few rows: the index's columns are scanned, not put in maps.
        let mut few =
            add(&mut store, rows(3..4).chain(rows(1550..1551)).chain(rows(1700..1701)), &[]).unwrap();
        assert_eq!((few.added, few.present), (1, 2));
        let few = names(&mut few);
        assert_eq!(few[0], (first[3].0.clone(), false));
        assert_eq!(few[1], (again[1500..][50].0.clone(), false));
        assert!(few[2].1);
        let (experiment, _) = store.read().unwrap();
        assert_eq!(experiment.configs.len(), 1701);

        // New defaults: two configs that really become one are refused; two
        // that only hash alike are not.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("exp");
        assert!(Store::create(&dir, &mut Experiment::default()).unwrap().is_none());
        let mut store = Store::open(&dir).unwrap();
        add(&mut store, rows(0..50), &[]).unwrap();
        assert!(add(&mut store, std::iter::empty(), &["c=1".to_string()]).is_ok());
        let one = json!({"a": 1}).as_object().unwrap().clone();
        let two = json!({"a": 1, "b": 2}).as_object().unwrap().clone();
        let both = [one, two].into_iter().map(|params| Ok(Row { origin: Origin::Grid, params }));
        add(&mut store, both, &[]).unwrap();
        let err = add(&mut store, std::iter::empty(), &["b=2".to_string()]).unwrap_err();
        assert!(err.message.contains("would become the same config"), "{err}");
    }
}
