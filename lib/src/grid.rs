//! `--grid KEY=V1,V2`, `KEY=A..B` and `KEY=A..B:STEP` (inclusive, exact for
//! decimals): the cartesian product of all grids.

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
        if spec.trim().is_empty() {
            return Err(bad("no values"));
        }
        if looks_like_range(spec) {
            return Ok(Axis { key: key.to_string(), values: range(spec).map_err(|why| bad(&why))? });
        }
        let parts = split_top_level(spec);
        if parts.iter().any(|part| part.trim().is_empty()) {
            return Err(bad("an empty value in the list (write \"\" for an empty string)"));
        }
        if parts.iter().any(|part| looks_like_range(part)) {
            return Err(bad("a range cannot be one value of a list; give it alone, e.g. 1..5"));
        }
        let values = parts.into_iter().map(parse_value).collect::<Result<Vec<_>, String>>();
        Ok(Axis { key: key.to_string(), values: values.map_err(|why| bad(&why))? })
    }
}

/// The most values one range may give.
const MAX_RANGE: i128 = 10_000_000;

/// `A..B` or `A..B:STEP` with numbers, as opposed to a string value that
/// happens to hold two dots (a path such as `../data`).
fn looks_like_range(spec: &str) -> bool {
    let Some((start, end)) = spec.split_once("..") else {
        return false;
    };
    let end = end.split_once(':').map_or(end, |(end, _)| end);
    let number = |text: &str| text.trim().parse::<f64>().is_ok();
    number(start) || number(end)
}

/// The values of an inclusive range `A..B[:STEP]`. Decimals are exact:
/// `0.1..0.5:0.1` gives 0.1, 0.2, 0.3, 0.4, 0.5.
fn range(spec: &str) -> Result<Vec<Value>, String> {
    let (bounds, step) = match spec.split_once(':') {
        Some((bounds, step)) => (bounds, Some(step)),
        None => (spec, None),
    };
    let (start, end) = bounds.split_once("..").ok_or("expected A..B or A..B:STEP")?;
    let numbers: Vec<&str> = [Some(start), Some(end), step].into_iter().flatten().map(str::trim).collect();
    let decimals =
        numbers.iter().map(|n| n.split_once('.').map_or(0, |(_, frac)| frac.len())).max().unwrap_or(0);
    let scaled = |text: &str| {
        decimal(text, decimals)
            .ok_or_else(|| format!("{text:?} is not a decimal number (e.g. 3, -1 or 0.25)"))
    };
    let (start, end) = (scaled(numbers[0])?, scaled(numbers[1])?);
    if start > end {
        return Err(format!(
            "range start is greater than its end (ranges go up: {}..{})",
            numbers[1], numbers[0]
        ));
    }
    let step = match step {
        Some(step) => scaled(step.trim())?,
        None if decimals == 0 => 1,
        None => return Err(format!("a range of decimals needs a step, e.g. {bounds}:0.1")),
    };
    if step <= 0 {
        return Err("the step must be greater than 0".into());
    }
    let count = end.checked_sub(start).map(|span| span / step);
    if count.is_none_or(|count| count >= MAX_RANGE) {
        return Err("range has more than 10 million values".into());
    }
    let values = (0..=(end - start) / step).map(|k| start + k * step);
    Ok(values.map(|n| unscaled(n, decimals)).collect())
}

/// `text` times 10^decimals, exactly; None unless it is a plain decimal.
fn decimal(text: &str, decimals: usize) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = |part: &str| part.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !valid(whole) || !valid(frac) || frac.len() > decimals || whole.len() > 20 {
        return None;
    }
    let padded = format!("{whole}{frac:0<decimals$}");
    let value: i128 = padded.parse().ok()?;
    Some(if negative { -value } else { value })
}

/// A scaled integer back as a JSON number: an integer when there are no
/// decimals, else the shortest decimal text.
fn unscaled(n: i128, decimals: usize) -> Value {
    if decimals == 0 {
        return i64::try_from(n).map(Value::from).unwrap_or_else(|_| Value::from(n as f64));
    }
    let digits = format!("{:0>width$}", n.unsigned_abs(), width = decimals + 1);
    let (whole, frac) = digits.split_at(digits.len() - decimals);
    let sign = if n < 0 { "-" } else { "" };
    let text = format!("{sign}{whole}.{frac}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Every combination of the axes' values, first axis slowest.
pub fn product(axes: &[Axis]) -> Result<Vec<Params>> {
    let points = axes.iter().try_fold(1usize, |n, axis| n.checked_mul(axis.values.len()));
    if points.is_none_or(|n| n > MAX_RANGE as usize) {
        let sizes: Vec<String> = axes.iter().map(|a| format!("{} ({})", a.key, a.values.len())).collect();
        return Err(Error::usage(format!(
            "--grid: {} make more than 10 million configs; add them in parts (-f with fewer lines)",
            sizes.join(" x ")
        )));
    }
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
    Ok(rows)
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
        assert_eq!(
            product(&[Axis::parse("a=1,2").unwrap(), Axis::parse("b=x,y").unwrap()]).unwrap().len(),
            4
        );
    }

    #[test]
    fn decimal_ranges_are_exact() {
        let values = |spec: &str| Axis::parse(spec).unwrap().values;
        assert_eq!(values("lr=0.1..0.5:0.1"), [json!(0.1), json!(0.2), json!(0.3), json!(0.4), json!(0.5)]);
        assert_eq!(values("n=1..7:3"), [json!(1), json!(4), json!(7)]);
        assert_eq!(
            values("x=-0.5..0.5:0.25"),
            [json!(-0.5), json!(-0.25), json!(0.0), json!(0.25), json!(0.5)]
        );
        assert_eq!(values("x=0..1:0.3"), [json!(0.0), json!(0.3), json!(0.6), json!(0.9)]);
        assert_eq!(values("path=../data,x"), [json!("../data"), json!("x")]);
    }

    #[test]
    fn malformed() {
        for bad in [
            "novalue",
            "=1,2",
            "n=",
            "n=5..1",
            "lr=0.1..0.5",
            "n=1..5:0",
            "n=1..5:-1",
            "n=1..x",
            "i=1,,2",
            "n=1e3..2e3:1",
            "n=1..3,5",
        ] {
            assert!(Axis::parse(bad).is_err(), "{bad}");
        }
    }
}
