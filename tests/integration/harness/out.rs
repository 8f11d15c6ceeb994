//! A finished tool's output: its exit code, stdout and stderr.

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

    pub fn code(&self, expected: i32) -> &Out {
        assert_eq!(self.code, Some(expected), "expected exit {expected}\n{self:#?}");
        self
    }

    pub fn success(&self) -> &Out {
        self.code(0)
    }

    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}")))
            .collect()
    }
}
