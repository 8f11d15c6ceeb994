//! The summary table kept compact until it is written: each config's cells
//! as bytes in one buffer per experiment, so a million rows cost tens of
//! megabytes, not a `String` and a `Value` per cell, and an experiment in
//! exp's own layout is read a config at a time ([`Store::snapshot`]), never
//! held whole.
//!
//! Three steps, in the order a summary needs them: every config of every
//! experiment, its name, status, duration and params ([`Table::read`],
//! [`Table::add`]), so configs that are not done can be refused before any
//! result is read ([`Table::not_done`]); then each config's result and
//! provenance files ([`Table::read_files`]); then the CSV, once every
//! column is known ([`Table::write_csv`]).

use super::{
    csv_error, flatten_with, inert, is_formula, provenance_cells, result_of, result_warning, segment,
    Columns, NotDone, Options, PROVENANCE_COLUMNS,
};
use crate::error::Result;
use crate::model::{Config, Entry, Experiment, Params, Status};
use crate::report::warn_once;
use crate::store::Store;
use crate::time::Timestamp;
use crate::values::display_value;
use indexmap::IndexSet;
use serde_json::Value;
use std::io::Write;

/// A summary of one or more experiments, read and not yet written.
pub struct Table<'a> {
    options: Options,
    now: Timestamp,
    /// The param columns, then the result columns, each in the order
    /// first seen; cells name them by their place here.
    params: IndexSet<String>,
    results: IndexSet<String>,
    parts: Vec<Part<'a>>,
}

/// One experiment's rows.
struct Part<'a> {
    label: Option<&'a str>,
    store: Held<'a>,
    rows: Rows,
    /// Each config's result cells, then (with `--provenance`) its three
    /// provenance cells; empty until [`Table::read_files`].
    files: Vec<u8>,
}

/// An experiment's store, the table's own or lent to it.
enum Held<'a> {
    Own(Store),
    Lent(&'a Store),
}

impl std::ops::Deref for Held<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        match self {
            Held::Own(store) => store,
            Held::Lent(store) => store,
        }
    }
}

/// What the state says of each config.
#[derive(Default)]
struct Rows {
    count: usize,
    /// Each config's name, a byte of [`Flags`], its duration (with
    /// `--timing`, when it has one) and its param cells.
    configs: Vec<u8>,
    /// The warning of each config flagged as having one, in order.
    warnings: Vec<String>,
}

/// The bits of a config's flag byte: its status (its place in
/// [`Status::ALL`]) in the lowest two.
struct Flags;

impl Flags {
    const HAS_RUN: u8 = 1 << 2;
    const DURATION: u8 = 1 << 3;
    const WARNING: u8 = 1 << 4;
}

/// A config as [`Rows::configs`] holds it, up to its cells.
struct Head<'b> {
    name: &'b str,
    status: Status,
    has_run: bool,
    duration: Option<f64>,
    warned: bool,
}

impl<'a> Table<'a> {
    pub fn new(options: Options) -> Table<'a> {
        Table {
            options,
            now: Timestamp::now(),
            params: IndexSet::new(),
            results: IndexSet::new(),
            parts: Vec::new(),
        }
    }

    /// How many configs, in every experiment.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|part| part.rows.count).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Read an experiment's configs from its files, a line at a time when
    /// its state file is in exp's own layout, else whole; a corrupt state
    /// is an error, and nothing of it is kept.
    pub fn read(&mut self, label: Option<&'a str>, mut store: Store) -> Result<()> {
        let known = self.params.len();
        let mut rows = Rows::default();
        let snapshot = {
            let lock = store.lock_shared()?;
            store.snapshot(&lock)?
        };
        match snapshot {
            Some(snapshot) => {
                let defaults = &snapshot.experiment().defaults;
                let each = |name: &str, entry: &Entry| {
                    self.push(&mut rows, defaults, name, &*entry.read()?);
                    Ok(())
                };
                if let Err(err) = snapshot.each(each) {
                    // Nothing of this experiment is kept, its columns neither.
                    self.params.truncate(known);
                    return Err(err);
                }
            }
            None => {
                let (experiment, _) = store.read()?;
                self.push_all(&mut rows, &experiment)?;
            }
        }
        self.parts.push(Part { label, store: Held::Own(store), rows, files: Vec::new() });
        Ok(())
    }

    /// Add the configs of an experiment already read.
    pub fn add(&mut self, label: Option<&'a str>, store: &'a Store, experiment: &Experiment) -> Result<()> {
        let mut rows = Rows::default();
        self.push_all(&mut rows, experiment)?;
        self.parts.push(Part { label, store: Held::Lent(store), rows, files: Vec::new() });
        Ok(())
    }

    fn push_all(&mut self, rows: &mut Rows, experiment: &Experiment) -> Result<()> {
        for (name, entry) in &experiment.configs {
            let config = entry.read()?;
            self.push(rows, &experiment.defaults, name, &config);
        }
        Ok(())
    }

    /// One config: its name, flags, duration and param cells (the params
    /// merged over the defaults, as [`crate::identity::merged`] does).
    fn push(&mut self, rows: &mut Rows, defaults: &Params, name: &str, config: &Config) {
        let out = &mut rows.configs;
        put_bytes(out, name.as_bytes());
        let duration = if self.options.timing { config.duration(&self.now) } else { None };
        let warning = result_warning(name, config);
        let status = Status::ALL.iter().position(|&s| s == config.status).expect("a status") as u8;
        let flags = status
            | if config.has_run() { Flags::HAS_RUN } else { 0 }
            | if duration.is_some() { Flags::DURATION } else { 0 }
            | if warning.is_some() { Flags::WARNING } else { 0 };
        out.push(flags);
        if let Some(duration) = duration {
            out.extend_from_slice(&duration.to_le_bytes());
        }
        rows.warnings.extend(warning);
        let defaults = defaults.iter().filter(|(key, _)| !config.params.contains_key(key.as_str()));
        let (raw, columns, mut cells) = (self.options.raw, &mut self.params, Vec::new());
        for (key, value) in config.params.iter().chain(defaults) {
            flatten_with(&segment(key), value, &mut |key, value| {
                cells.push((column(columns, key), cell(raw, display_value(value))));
            });
        }
        put_cells(out, &cells);
        rows.count += 1;
    }

    /// Each experiment's label and the configs in it that are not done,
    /// with their status.
    pub fn not_done(&self) -> Vec<NotDone<'_>> {
        let mut listed = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            let mut bytes = Bytes(&part.rows.configs);
            let mut missing = Vec::new();
            for _ in 0..part.rows.count {
                let head = bytes.head();
                bytes.cells(|_, _| {});
                if head.status != Status::Done {
                    missing.push((head.name, head.status));
                }
            }
            listed.push((part.label, missing));
        }
        listed
    }

    /// Read each config's result (if it has ended) and, with
    /// `--provenance`, its latest provenance. `tick` is called once per
    /// config, for a progress display.
    pub fn read_files(&mut self, tick: &mut dyn FnMut()) -> Result<()> {
        let (raw, provenance) = (self.options.raw, self.options.provenance);
        for part in &mut self.parts {
            let mut bytes = Bytes(&part.rows.configs);
            let mut warnings = part.rows.warnings.iter();
            part.files.clear();
            for _ in 0..part.rows.count {
                tick();
                let head = bytes.head();
                bytes.cells(|_, _| {});
                if head.warned {
                    warn_once(warnings.next().expect("a warning per flag").clone());
                }
                let mut cells = Vec::new();
                if let Some(value) = result_of(&part.store, head.name, head.status) {
                    flatten_with("", &value, &mut |key, value| {
                        cells.push((column(&mut self.results, key), cell(raw, display_value(value))));
                    });
                }
                put_cells(&mut part.files, &cells);
                if provenance {
                    for text in provenance_cells(&part.store, head.name, head.has_run) {
                        put_bytes(&mut part.files, cell(raw, text).as_bytes());
                    }
                }
            }
        }
        Ok(())
    }

    /// Write the summary as CSV, with a first column `experiment` when any
    /// experiment has a label.
    pub fn write_csv(&self, out: impl Write) -> Result<()> {
        let options = self.options;
        let labelled = self.parts.iter().any(|part| part.label.is_some());
        // The reserved columns are reserved whatever the flags, so a
        // config's columns are named the same with and without them.
        let mut columns = Columns::reserved();
        for key in &self.params {
            columns.add(key, "param");
        }
        for key in &self.results {
            columns.add(key, "result");
        }
        let mut writer = csv::Writer::from_writer(out);
        let mut header = vec!["name".to_string()];
        if labelled {
            header.insert(0, "experiment".to_string());
        }
        header.extend(columns.headers.into_iter().map(|text| cell(options.raw, text)));
        if options.ignore_missing {
            header.push("status".to_string());
        }
        if options.timing {
            header.push("duration".to_string());
        }
        if options.provenance {
            header.extend(PROVENANCE_COLUMNS.map(String::from));
        }
        writer.write_record(&header).map_err(csv_error)?;

        let before = self.params.len();
        let mut record: Vec<&[u8]> = vec![&[]; before + self.results.len()];
        for part in &self.parts {
            let label = cell(options.raw, part.label.unwrap_or_default().to_string());
            let (mut configs, mut files) = (Bytes(&part.rows.configs), Bytes(&part.files));
            for _ in 0..part.rows.count {
                record.fill(&[]);
                let head = configs.head();
                configs.cells(|column, text| record[column] = text);
                files.cells(|column, text| record[before + column] = text);
                if labelled {
                    writer.write_field(&label).map_err(csv_error)?;
                }
                match !options.raw && is_formula(head.name) {
                    true => writer.write_field(format!("'{}", head.name)),
                    false => writer.write_field(head.name),
                }
                .map_err(csv_error)?;
                for text in &record {
                    writer.write_field(text).map_err(csv_error)?;
                }
                if options.ignore_missing {
                    writer.write_field(head.status.as_str()).map_err(csv_error)?;
                }
                if options.timing {
                    let duration = head.duration.map(|d| Value::from(d).to_string()).unwrap_or_default();
                    writer.write_field(duration).map_err(csv_error)?;
                }
                if options.provenance {
                    for _ in PROVENANCE_COLUMNS {
                        writer.write_field(files.bytes()).map_err(csv_error)?;
                    }
                }
                writer.write_record(None::<&[u8]>).map_err(csv_error)?;
            }
        }
        writer.flush()?;
        Ok(())
    }
}

/// A cell as written: made inert unless `--raw`.
fn cell(raw: bool, text: String) -> String {
    if raw {
        text
    } else {
        inert(text)
    }
}

/// The place of column `key`, added if it is new.
fn column(columns: &mut IndexSet<String>, key: String) -> usize {
    match columns.get_index_of(key.as_str()) {
        Some(index) => index,
        None => columns.insert_full(key).0,
    }
}

/// A number in 7-bit groups, lowest first, the high bit set on all but the last.
fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// How many cells, then each one's column and text.
fn put_cells(out: &mut Vec<u8>, cells: &[(usize, String)]) {
    put_len(out, cells.len());
    for (column, text) in cells {
        put_len(out, *column);
        put_bytes(out, text.as_bytes());
    }
}

/// What [`put_len`], [`put_bytes`] and [`put_cells`] wrote, read back in
/// the same order.
struct Bytes<'b>(&'b [u8]);

impl<'b> Bytes<'b> {
    fn len(&mut self) -> usize {
        let (mut n, mut shift) = (0, 0);
        loop {
            let byte = self.byte();
            n |= usize::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return n;
            }
            shift += 7;
        }
    }

    fn byte(&mut self) -> u8 {
        let (&byte, rest) = self.0.split_first().expect("a whole row");
        self.0 = rest;
        byte
    }

    fn take(&mut self, n: usize) -> &'b [u8] {
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken
    }

    fn bytes(&mut self) -> &'b [u8] {
        let n = self.len();
        self.take(n)
    }

    fn cells(&mut self, mut each: impl FnMut(usize, &'b [u8])) {
        for _ in 0..self.len() {
            let column = self.len();
            each(column, self.bytes());
        }
    }

    /// A config's name, flags and duration.
    fn head(&mut self) -> Head<'b> {
        let name = std::str::from_utf8(self.bytes()).expect("written from a str");
        let flags = self.byte();
        let duration = (flags & Flags::DURATION != 0)
            .then(|| f64::from_le_bytes(self.take(8).try_into().expect("8 bytes")));
        Head {
            name,
            status: Status::ALL[usize::from(flags & 3)],
            has_run: flags & Flags::HAS_RUN != 0,
            duration,
            warned: flags & Flags::WARNING != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_cells_read_back_as_written() {
        let mut out = Vec::new();
        for n in [0, 1, 127, 128, 300, 1 << 20, usize::MAX] {
            put_len(&mut out, n);
        }
        put_cells(&mut out, &[(0, "a".into()), (200, "ü".repeat(100))]);
        let mut bytes = Bytes(&out);
        for n in [0, 1, 127, 128, 300, 1 << 20, usize::MAX] {
            assert_eq!(bytes.len(), n);
        }
        let mut cells = Vec::new();
        bytes.cells(|column, text| cells.push((column, String::from_utf8(text.to_vec()).unwrap())));
        assert_eq!(cells, [(0, "a".to_string()), (200, "ü".repeat(100))]);
        assert!(bytes.0.is_empty());
    }
}
