//! What the page shows, read once: one row per config with its params,
//! result, status and duration, in named columns.

use crate::aggregate::{group, Config as GroupedConfig, Grouping};
use crate::error::Result;
use crate::identity::merged;
use crate::model::{Counts, Experiment, Status};
use crate::results::{flatten, result_of, warn_about_result, Columns};
use crate::store::Store;
use crate::time::Timestamp;
use indexmap::IndexMap;
use serde_json::{json, Value};

/// One experiment as the report reads it.
pub struct Source<'a> {
    /// The folder as the user gave it.
    pub label: String,
    pub store: &'a Store,
    pub experiment: &'a Experiment,
}

impl Source<'_> {
    /// The experiment's name, else its folder.
    pub fn title(&self) -> String {
        self.experiment
            .name
            .clone()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| self.label.clone())
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for entry in self.experiment.configs.values() {
            counts.add(entry.status());
        }
        counts
    }
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Experiment,
    Name,
    Status,
    Param,
    Result,
    Duration,
}

impl Kind {
    /// The CSS class of its header.
    pub fn class(self) -> &'static str {
        match self {
            Kind::Experiment | Kind::Name | Kind::Status | Kind::Duration => "fixed",
            Kind::Param => "param",
            Kind::Result => "result",
        }
    }
}

/// A column of the table: its header (unique) and what it holds.
#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    pub kind: Kind,
}

/// A cell: a scalar, or nothing.
pub type Cell = Value;

/// Every config of every source, in columns.
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub statuses: Vec<Status>,
}

impl Table {
    /// Every config of `sources`, read once; with `over` (`--over`), also
    /// their groups, from the same reading.
    pub fn read<'a>(
        sources: &[Source<'a>],
        over: &[String],
        tick: &mut dyn FnMut(),
    ) -> Result<(Table, Option<Grouping>)> {
        let now = Timestamp::now();
        struct Read {
            source: usize,
            name: String,
            status: Status,
            duration: Option<f64>,
            params: Vec<(String, Value)>,
            result: Vec<(String, Value)>,
        }
        let mut read = Vec::new();
        let mut to_group = Vec::new();
        for (source_index, source) in sources.iter().enumerate() {
            let experiment: &'a Experiment = source.experiment;
            for (name, entry) in &experiment.configs {
                tick();
                let config = entry.read()?;
                let merged_params = merged(&experiment.defaults, &config.params);
                let mut params = Vec::new();
                flatten("", &Value::Object(merged_params.clone()), &mut params);
                let mut result = Vec::new();
                let value = result_of(source.store, name, config.status);
                if let Some(value) = &value {
                    warn_about_result(name, &config);
                    flatten("", value, &mut result);
                }
                if !over.is_empty() {
                    let result = value.filter(|_| config.status == Status::Done);
                    let status = config.status;
                    to_group.push(GroupedConfig {
                        source: source_index,
                        name,
                        params: merged_params,
                        status,
                        result,
                    });
                }
                read.push(Read {
                    source: source_index,
                    name: name.clone(),
                    status: config.status,
                    duration: config.duration(&now),
                    params,
                    result,
                });
            }
        }
        let grouping = match over.is_empty() {
            true => None,
            false => Some(group(to_group, over)?),
        };

        let mut columns = Vec::new();
        if sources.len() > 1 {
            columns.push(Column { header: "experiment".into(), kind: Kind::Experiment });
        }
        columns.push(Column { header: "name".into(), kind: Kind::Name });
        columns.push(Column { header: "status".into(), kind: Kind::Status });
        // Headers named as the summary names them (reserved ones prefixed).
        let mut names = Columns::reserved();
        let mut header = |key: &str, section: &str| {
            let index = names.add(key, section);
            names.headers[index].clone()
        };
        let mut params: IndexMap<&str, usize> = IndexMap::new();
        let mut results: IndexMap<&str, usize> = IndexMap::new();
        for row in &read {
            for (key, _) in &row.params {
                if !params.contains_key(key.as_str()) {
                    params.insert(key, columns.len());
                    columns.push(Column { header: header(key, "param"), kind: Kind::Param });
                }
            }
        }
        for row in &read {
            for (key, _) in &row.result {
                if !results.contains_key(key.as_str()) {
                    results.insert(key, columns.len());
                    columns.push(Column { header: header(key, "result"), kind: Kind::Result });
                }
            }
        }
        let duration = columns.len();
        columns.push(Column { header: "duration".into(), kind: Kind::Duration });

        let mut rows = Vec::with_capacity(read.len());
        let mut statuses = Vec::with_capacity(read.len());
        for row in &read {
            let mut cells = vec![Value::Null; columns.len()];
            let mut fixed = 0;
            if sources.len() > 1 {
                cells[0] = json!(sources[row.source].label);
                fixed = 1;
            }
            cells[fixed] = json!(row.name);
            cells[fixed + 1] = json!(row.status);
            for (key, value) in &row.params {
                cells[params[key.as_str()]] = scalar(value);
            }
            for (key, value) in &row.result {
                cells[results[key.as_str()]] = scalar(value);
            }
            cells[duration] = row.duration.map_or(Value::Null, |d| json!((d * 1000.0).round() / 1000.0));
            rows.push(cells);
            statuses.push(row.status);
        }
        Ok((Table { columns, rows, statuses }, grouping))
    }

    /// The table as the page's script reads it, safe inside a `<script>`
    /// element (every `<` escaped, which JSON allows only inside strings).
    pub fn data_json(&self) -> String {
        let numeric: Vec<bool> =
            (0..self.columns.len()).map(|c| self.rows.iter().any(|row| row[c].is_number())).collect();
        let data = json!({
            "columns": self.columns.iter().map(|c| &c.header).collect::<Vec<_>>(),
            "numeric": numeric,
            "status": self.columns.iter().position(|c| c.kind == Kind::Status),
            "limit": super::TABLE_ROWS,
            "rows": self.rows,
        });
        data.to_string().replace('<', "\\u003c")
    }

    /// The columns of `kind`, by index.
    pub fn columns_of(&self, kind: Kind) -> impl Iterator<Item = (usize, &Column)> {
        self.columns.iter().enumerate().filter(move |(_, column)| column.kind == kind)
    }
}

/// Arrays and empty objects, which flattening keeps whole, shown as JSON text.
fn scalar(value: &Value) -> Value {
    match value {
        Value::Array(_) | Value::Object(_) => Value::String(value.to_string()),
        other => other.clone(),
    }
}
