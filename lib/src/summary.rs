//! `results_summary.csv`: one row per config, `name`, then every param, then
//! every result field (nested objects flattened with dots, arrays as JSON
//! text; a result field that clashes with a param is prefixed `result.`).

use crate::error::{Error, Result};
use crate::identity::merged;
use crate::model::Experiment;
use crate::run::spawn::ConfigFiles;
use crate::store::atomic::write_atomic;
use crate::store::Store;
use crate::values::display_value;
use indexmap::{IndexMap, IndexSet};
use serde_json::Value;

pub const SUMMARY_FILE: &str = "results_summary.csv";

/// The result a config left: `result.json`, else Delphyne's `result.yaml`.
pub fn read_result(files: &ConfigFiles) -> Option<Value> {
    if let Ok(text) = std::fs::read_to_string(files.result()) {
        return serde_json::from_str(&text).ok();
    }
    let text = std::fs::read_to_string(files.dir.join("result.yaml")).ok()?;
    serde_yaml::from_str(&text).ok()
}

/// Flatten nested objects into dotted keys; arrays stay whole.
pub fn flatten(prefix: &str, value: &Value, out: &mut IndexMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&key, value, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// The CSV text of every config.
pub fn csv(store: &Store, experiment: &Experiment) -> Result<Vec<u8>> {
    let mut rows = Vec::with_capacity(experiment.configs.len());
    let (mut param_columns, mut result_columns) = (IndexSet::new(), IndexSet::new());
    for (name, config) in &experiment.configs {
        let mut params = IndexMap::new();
        flatten("", &Value::Object(merged(&experiment.defaults, &config.params)), &mut params);
        let mut results = IndexMap::new();
        if let Some(result) = read_result(&ConfigFiles { dir: store.config_dir(name) }) {
            flatten("", &result, &mut results);
        }
        param_columns.extend(params.keys().cloned());
        result_columns.extend(results.keys().cloned());
        rows.push((name, params, results));
    }
    let result_header = |key: &String| {
        if param_columns.contains(key) || key == "name" {
            format!("result.{key}")
        } else {
            key.clone()
        }
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = std::iter::once("name".to_string())
        .chain(param_columns.iter().cloned())
        .chain(result_columns.iter().map(result_header));
    writer.write_record(header).map_err(|e| Error::state(e.to_string()))?;
    let cell = |value: Option<&Value>| value.map(display_value).unwrap_or_default();
    for (name, params, results) in rows {
        let record = std::iter::once(name.clone())
            .chain(param_columns.iter().map(|k| cell(params.get(k))))
            .chain(result_columns.iter().map(|k| cell(results.get(k))));
        writer.write_record(record).map_err(|e| Error::state(e.to_string()))?;
    }
    writer.into_inner().map_err(|e| Error::state(e.to_string()))
}

/// Write `results_summary.csv` atomically.
pub fn save(store: &Store, experiment: &Experiment) -> Result<()> {
    write_atomic(&store.dir().join(SUMMARY_FILE), &csv(store, experiment)?)
}
