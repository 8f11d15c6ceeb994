//! A finished tool's output: its exit code, stdout and stderr.

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Output;

/// A finished process's output.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn of(output: Output) -> Out {
        Out {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Exit 0.
    #[track_caller]
    pub fn succeeds(&self) -> &Out {
        assert_eq!(self.code, Some(0), "expected success\n{self:#?}");
        self
    }

    /// Exit `code`: a failure (1), bad usage (2), a broken experiment (3),
    /// a busy one (4), or a stop by signal N (128+N).
    #[track_caller]
    pub fn fails_with(&self, code: i32) -> &Out {
        assert_ne!(code, 0, "fails_with(0): say succeeds()");
        assert_eq!(self.code, Some(code), "expected exit {code}\n{self:#?}");
        self
    }

    /// `stdout_has`, `stderr_has` and their `lacks`: a text (or a char) is
    /// there, or is not.
    #[track_caller]
    pub fn stdout_has(&self, needle: impl ToString) -> &Out {
        let needle = needle.to_string();
        assert!(self.stdout.contains(&needle), "stdout lacks {needle:?}\n{self:#?}");
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: impl ToString) -> &Out {
        let needle = needle.to_string();
        assert!(self.stderr.contains(&needle), "stderr lacks {needle:?}\n{self:#?}");
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: impl ToString) -> &Out {
        let needle = needle.to_string();
        assert!(!self.stdout.contains(&needle), "stdout has {needle:?}\n{self:#?}");
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: impl ToString) -> &Out {
        let needle = needle.to_string();
        assert!(!self.stderr.contains(&needle), "stderr has {needle:?}\n{self:#?}");
        self
    }

    /// Nothing on stdout: no data (a refusal, a stop, a quiet run).
    #[track_caller]
    pub fn no_stdout(&self) -> &Out {
        assert!(self.stdout.is_empty(), "expected no stdout\n{self:#?}");
        self
    }

    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}")))
            .collect()
    }

    /// The JSON lines (of `exp-status --json`) by config name.
    pub fn rows_by_name(&self) -> BTreeMap<String, Value> {
        self.json_lines().into_iter().map(|row| (row["name"].as_str().unwrap().to_string(), row)).collect()
    }

    /// The JSON line of config `name` (of `exp-status --json`).
    #[track_caller]
    pub fn row(&self, name: &str) -> Value {
        self.json_lines()
            .into_iter()
            .find(|row| row["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {self:#?}"))
    }
}
