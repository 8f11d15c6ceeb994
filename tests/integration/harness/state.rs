//! What the state says, as a user reads it: `exp-status --json` by name,
//! configs by status, counts, the state's files as bytes, and the files a
//! command left.

use super::{run_bounded, Dir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

impl Dir {
    /// `exp-status --json`, parsed.
    pub fn status(&self) -> Vec<Value> {
        self.run("exp-status", &["--json"]).succeeds().json_lines()
    }

    /// `TMP/exp/experiment.yaml`.
    pub fn state_path(&self) -> PathBuf {
        self.exp().join("experiment.yaml")
    }

    /// `TMP/exp/.exp/journal.jsonl`.
    pub fn journal_path(&self) -> PathBuf {
        self.exp().join(".exp/journal.jsonl")
    }

    /// The bytes of `experiment.yaml`.
    pub fn state_file(&self) -> Vec<u8> {
        bytes(&self.state_path())
    }

    /// The bytes of the journal, if there is one.
    pub fn journal(&self) -> Option<Vec<u8>> {
        std::fs::read(self.journal_path()).ok()
    }

    /// The bytes of the state: `experiment.yaml`, and the journal (empty
    /// when there is none), to check that something changed nothing.
    pub fn state(&self) -> (Vec<u8>, Vec<u8>) {
        (self.state_file(), self.journal().unwrap_or_default())
    }

    /// A config's folder, `TMP/exp/configs/NAME`.
    pub fn config(&self, name: &str) -> PathBuf {
        self.exp().join("configs").join(name)
    }

    /// The text of a file in a config's folder.
    pub fn config_file(&self, name: &str, file: &str) -> String {
        let path = self.config(name).join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// The bytes of a file that must be there.
pub fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each config's `exp-status --json` line, by name.
pub fn by_name(dir: &Dir) -> BTreeMap<String, Value> {
    dir.run("exp-status", &["--json"]).succeeds().rows_by_name()
}

/// The names of the configs with `status`.
pub fn with_status(rows: &BTreeMap<String, Value>, status: &str) -> BTreeSet<String> {
    rows.iter().filter(|(_, row)| row["status"] == status).map(|(name, _)| name.clone()).collect()
}

/// The status of every config, by name.
pub fn statuses(dir: &Dir) -> BTreeMap<String, String> {
    by_name(dir).into_iter().map(|(name, row)| (name, row["status"].as_str().unwrap().to_string())).collect()
}

/// The `name` of each JSON line (of `exp-status --json`, `exp-add`...).
pub fn names(lines: &[Value]) -> Vec<String> {
    lines.iter().map(|line| line["name"].as_str().expect("name").to_string()).collect()
}

/// `exp-status --counts --json ARGS`: one object, whose counts add up to
/// its total.
pub fn counts(dir: &Dir, args: &[&str]) -> Value {
    let all = [&["--counts", "--json"][..], args].concat();
    let lines = run_bounded(dir, "exp-status", &all).succeeds().json_lines();
    assert_eq!(lines.len(), 1, "one object: {lines:?}");
    let counts = lines.into_iter().next().unwrap();
    let sum: u64 = ["todo", "running", "done", "failed"]
        .iter()
        .map(|k| counts[k].as_u64().unwrap_or_else(|| panic!("{k}: {counts}")))
        .sum();
    assert_eq!(Some(sum), counts["total"].as_u64(), "{counts}");
    counts
}

/// The shard of `--shard I/COUNT` a name falls in: the README's 64-bit
/// FNV-1a of the name's bytes, modulo COUNT.
pub fn shard_of(name: &str, count: u64) -> u64 {
    let hash = name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    hash % count
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

/// Every file under `root` (anything but a folder; a symlink is not
/// followed), as paths relative to it.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            match std::fs::symlink_metadata(&path).unwrap().is_dir() {
                true => todo.push(path),
                false => found.push(path.strip_prefix(root).unwrap().to_path_buf()),
            }
        }
    }
    found
}
