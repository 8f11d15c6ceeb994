//! Choosing configs by name (`--names`, of exp-run and exp-clean) and by
//! hash (`--shard I/N`).

use crate::error::{Error, Result};
use crate::hash::fnv1a;
use crate::model::{Experiment, Status};
use std::collections::HashSet;
use std::io::BufRead;

/// `--shard I/N`: the configs whose name hashes to I modulo N, with the
/// 64-bit FNV-1a hash of the name's bytes (stable across hosts and versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || Error::usage(format!("--shard {text:?}: expected I/N with 0 <= I < N, e.g. 0/4"));
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            index.trim().parse::<u64>().map_err(|_| bad())?,
            count.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    pub fn contains(&self, name: &str) -> bool {
        fnv1a(name.as_bytes()) % self.count == self.index
    }
}

#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub names: Option<HashSet<String>>,
    pub shard: Option<Shard>,
}

impl Selection {
    pub fn contains(&self, name: &str) -> bool {
        self.names.as_ref().is_none_or(|names| names.contains(name))
            && self.shard.is_none_or(|s| s.contains(name))
    }

    /// Whether a config in the selection is to run: todo ones, and failed
    /// ones when `failed_too`.
    pub fn wants(&self, name: &str, status: Status, failed_too: bool) -> bool {
        self.contains(name)
            && match status {
                Status::Todo => true,
                Status::Failed => failed_too,
                Status::Running | Status::Done => false,
            }
    }

    /// Whether names were listed, so listed failed configs are retried.
    pub fn by_name(&self) -> bool {
        self.names.is_some()
    }
}

/// Refuse listed names the experiment does not have.
pub fn check_names(experiment: &Experiment, lines: &[(usize, String)]) -> Result<()> {
    for (line, name) in lines {
        if !experiment.configs.contains_key(name) {
            return Err(Error::usage(format!(
                "--names: line {line}: no config named {name:?} (exp-status --names lists them)"
            )));
        }
    }
    Ok(())
}

/// Read `--names`: bare names, or JSON lines with a `name` field (so
/// `exp-status --json` and `exp-status --names` both compose). Returns
/// (line number, name) pairs.
pub fn read_names(input: impl BufRead, source: &str) -> Result<Vec<(usize, String)>> {
    let mut names = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|err| Error::usage(format!("{source}: line {number}: {err}")))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let name = if line.starts_with('{') {
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|err| Error::usage(format!("{source}: line {number}: {err}")))?;
            value
                .get("name")
                .and_then(|n| n.as_str())
                .ok_or_else(|| Error::usage(format!("{source}: line {number}: no \"name\" string")))?
                .to_string()
        } else {
            line.to_string()
        };
        names.push((number, name));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard::parse(&format!("{i}/3")).unwrap()).collect();
        for name in ["a", "b", "c", "resnet-lr0.1"] {
            assert_eq!(shards.iter().filter(|s| s.contains(name)).count(), 1);
        }
        for bad in ["3/3", "1", "a/b", "0/0"] {
            assert!(Shard::parse(bad).is_err());
        }
    }

    #[test]
    fn names_bare_or_json() {
        let input = "a\n\n{\"name\":\"b\",\"status\":\"failed\"}\n";
        let names = read_names(input.as_bytes(), "-").unwrap();
        assert_eq!(names, [(1, "a".to_string()), (3, "b".to_string())]);
        assert!(read_names("{\"x\":1}".as_bytes(), "-").is_err());
    }
}
