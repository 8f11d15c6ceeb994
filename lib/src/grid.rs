//! `--grid KEY=V1,V2` and `KEY=A..B`: the cartesian product of all grids.

use crate::error::{Error, Result};
use crate::model::Params;
use crate::values::{parse_value, split_assignment};
use serde_json::Value;

/// One `--grid` axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<Value>,
}

impl Axis {
    pub fn parse(text: &str) -> Result<Axis> {
        let (key, spec) = split_assignment("--grid", text)?;
        let bad = |why: &str| Error::usage(format!("--grid {text:?}: {why}"));
        if let Some((a, b)) = spec.split_once("..") {
            if let (Ok(start), Ok(end)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
                if start > end {
                    return Err(bad("range start is greater than its end"));
                }
                if end - start >= 10_000_000 {
                    return Err(bad("range has more than 10 million values"));
                }
                return Ok(Axis { key: key.to_string(), values: (start..=end).map(Value::from).collect() });
            }
        }
        let values: Vec<Value> = split_top_level(spec).into_iter().map(parse_value).collect();
        if spec.trim().is_empty() {
            return Err(bad("no values"));
        }
        Ok(Axis { key: key.to_string(), values })
    }
}

/// Every combination of the axes' values, first axis slowest.
pub fn product(axes: &[Axis]) -> Vec<Params> {
    let mut rows = vec![Params::new()];
    for axis in axes {
        rows = rows
            .iter()
            .flat_map(|row| {
                axis.values.iter().map(move |value| {
                    let mut row = row.clone();
                    row.insert(axis.key.clone(), value.clone());
                    row
                })
            })
            .collect();
    }
    rows
}

/// Split on commas that are not inside brackets, braces or quotes, so
/// `--grid 'shape=[1,2],[3,4]'` has two values.
fn split_top_level(spec: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut quoted, mut escaped, mut start) = (Vec::new(), 0i32, false, false, 0);
    for (i, c) in spec.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&spec[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_ranges_and_json() {
        assert_eq!(Axis::parse("n=1..3").unwrap().values, [json!(1), json!(2), json!(3)]);
        assert_eq!(
            Axis::parse("v=adam,0.1,[1,2],{\"a\":1}").unwrap().values,
            [json!("adam"), json!(0.1), json!([1, 2]), json!({"a": 1})]
        );
        assert_eq!(product(&[Axis::parse("a=1,2").unwrap(), Axis::parse("b=x,y").unwrap()]).len(), 4);
    }

    #[test]
    fn malformed() {
        for bad in ["novalue", "=1,2", "n=", "n=5..1"] {
            assert!(Axis::parse(bad).is_err(), "{bad}");
        }
    }
}
