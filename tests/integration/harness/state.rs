//! What the state says, as a user reads it: `exp-status --json` by name,
//! configs by status, and the files a command left.

use super::Dir;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

impl Dir {
    /// `exp-status --json`, parsed.
    pub fn status(&self) -> Vec<serde_json::Value> {
        self.run("exp-status", &["--json"]).succeeds().json_lines()
    }

    /// The bytes of `experiment.yaml`.
    pub fn state_file(&self) -> Vec<u8> {
        std::fs::read(self.exp().join("experiment.yaml")).expect("experiment.yaml")
    }

    /// The bytes of the state: `experiment.yaml`, and the journal (empty
    /// when there is none), to check that something changed nothing.
    pub fn state(&self) -> (Vec<u8>, Vec<u8>) {
        let journal = std::fs::read(self.exp().join(".exp/journal.jsonl")).unwrap_or_default();
        (self.state_file(), journal)
    }
}

/// Each config's `exp-status --json` line, by name.
pub fn by_name(dir: &Dir) -> BTreeMap<String, Value> {
    dir.status().into_iter().map(|row| (row["name"].as_str().unwrap().to_string(), row)).collect()
}

/// The names of the configs with `status`.
pub fn with_status(rows: &BTreeMap<String, Value>, status: &str) -> BTreeSet<String> {
    rows.iter().filter(|(_, row)| row["status"] == status).map(|(name, _)| name.clone()).collect()
}

/// How many times each name was appended to `TMP/runs.txt`.
pub fn runs(dir: &Dir) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(dir.path().join("runs.txt")) {
        for line in text.lines() {
            *counts.entry(line.to_string()).or_default() += 1;
        }
    }
    counts
}
