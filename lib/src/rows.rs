//! Rows of params as they come in (a JSON Lines file, stdin, or a grid
//! point), each with where it came from, so a message can name the line.

use crate::error::{Error, Result};
use crate::model::Params;
use std::io::BufRead;
use std::rc::Rc;

/// One requested config and where it came from, for error messages.
#[derive(Debug, Clone)]
pub struct Row {
    pub origin: Origin,
    pub params: Params,
}

/// Where a row came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A line of a JSON Lines input (`-f FILE`, stdin).
    Line { source: Rc<str>, number: usize },
    /// A point of `--grid` alone.
    Grid,
    /// Draw k of `--sample` (crossed with a grid point, if any).
    Draw(u64),
}

impl Row {
    /// Where it came from, as an error message says it: `FILE: line 3`.
    pub fn origin(&self) -> String {
        match &self.origin {
            Origin::Line { source, number } => format!("{source}: line {number}"),
            Origin::Grid => format!("grid point {}", serde_json::Value::Object(self.params.clone())),
            Origin::Draw(k) => format!("draw {k} {}", serde_json::Value::Object(self.params.clone())),
        }
    }
}

/// The rows of JSON Lines input, parsed one at a time; blank lines are skipped.
pub fn json_lines<'a>(input: impl BufRead + 'a, source: &str) -> impl Iterator<Item = Result<Row>> + 'a {
    let source: Rc<str> = source.into();
    input.lines().enumerate().filter_map(move |(index, line)| {
        let number = index + 1;
        let at = |why: String| Error::usage(format!("{source}: line {number}: {why}"));
        let line = match line {
            Ok(line) if line.trim().is_empty() => return None,
            Ok(line) => line,
            Err(err) => return Some(Err(at(err.to_string()))),
        };
        Some(match crate::values::parse_strict(&line) {
            Ok(serde_json::Value::Object(params)) => {
                Ok(Row { origin: Origin::Line { source: source.clone(), number }, params })
            }
            Ok(_) => Err(at("expected a JSON object of params".into())),
            Err(why) => Err(at(why)),
        })
    })
}

/// Every row of JSON Lines input.
pub fn read_json_lines(input: impl BufRead, source: &str) -> Result<Vec<Row>> {
    json_lines(input, source).collect()
}
