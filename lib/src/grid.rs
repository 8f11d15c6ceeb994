//! `--grid KEY=V1,V2`, `KEY=A..B`, `KEY=A..B:STEP` and the geometric
//! `KEY=A..B:xFACTOR` (inclusive, exact for decimals): the cartesian
//! product of all grids.

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
    if let Some(factor) = step.and_then(|step| step.trim().strip_prefix('x')) {
        return geometric(start.trim(), end.trim(), factor.trim());
    }
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

/// The most significant digits a geometric range keeps exact; past them
/// (far past any float's 17) a value is rounded half to even.
const MAX_DIGITS: usize = 40;

/// `A..B:xF`: A, A*F, A*F^2, ... up to B inclusive, each computed in exact
/// decimal arithmetic, then read as the nearest float (or an integer when
/// A, B and F are all integers): `0.001..1000:x10` gives 0.001, 0.01, ...
fn geometric(start: &str, end: &str, factor: &str) -> Result<Vec<Value>, String> {
    const HINT: &str = "e.g. 0.001..1000:x10";
    let number = |text: &str| {
        Decimal::parse(text).ok_or_else(|| {
            let sign = if text.starts_with('-') || text.parse::<f64>().is_ok_and(|n| n == 0.0) {
                " greater than 0"
            } else {
                ""
            };
            format!("{text:?} is not a decimal number{sign} (a geometric range A..B:xF, {HINT})")
        })
    };
    let (first, last) = (number(start)?, number(end)?);
    let times = match Decimal::parse(factor) {
        Some(times) => times,
        None if factor.parse::<f64>().is_ok() => Decimal::one(),
        None => number(factor)?,
    };
    if times <= Decimal::one() {
        return Err(format!("the factor {factor} must be greater than 1 ({HINT})"));
    }
    if first > last {
        return Err(format!(
            "range start is greater than its end (ranges go up: {end}..{start}:x{factor}; {HINT})"
        ));
    }
    let count = (last.to_f64() / first.to_f64()).ln() / times.to_f64().ln();
    if count.is_nan() || count >= MAX_RANGE as f64 {
        return Err(format!("range has more than 10 million values ({HINT})"));
    }
    let float = [start, end, factor].iter().any(|text| text.contains(['.', 'e', 'E']));
    let mut values = Vec::new();
    let mut value = first;
    while value <= last {
        values.push(value.to_json(float));
        value = value.times(&times);
    }
    Ok(values)
}

/// A positive decimal number, exactly: `digits` x 10^`exponent`, with no
/// leading or trailing zero digit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    fn one() -> Decimal {
        Decimal { digits: vec![1], exponent: 0 }
    }

    /// `12`, `0.001`, `+1.5e-3`; None for anything else, zero and negatives.
    fn parse(text: &str) -> Option<Decimal> {
        let text = text.strip_prefix('+').unwrap_or(text);
        let (mantissa, exponent) = match text.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => {
                (mantissa, exponent.parse::<i64>().ok().filter(|e| e.abs() < 10_000)?)
            }
            None => (text, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !all_digits(whole)
            || !all_digits(fraction)
            || whole.len() + fraction.len() > 400
        {
            return None;
        }
        let digits = whole.bytes().chain(fraction.bytes()).map(|b| b - b'0').collect();
        Decimal::normalized(digits, exponent - fraction.len() as i64)
    }

    /// Leading and trailing zeros dropped, rounded to [`MAX_DIGITS`]; None for zero.
    fn normalized(mut digits: Vec<u8>, mut exponent: i64) -> Option<Decimal> {
        let leading = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading);
        if digits.len() > MAX_DIGITS {
            let cut = digits.len() - MAX_DIGITS;
            let rest = digits.split_off(MAX_DIGITS);
            exponent += cut as i64;
            let half = rest[0].cmp(&5).then_with(|| {
                if rest[1..].iter().any(|&d| d != 0) {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            });
            let up = half.is_gt() || (half.is_eq() && digits[MAX_DIGITS - 1] % 2 == 1);
            if up {
                let mut i = digits.len();
                loop {
                    if i == 0 {
                        digits.insert(0, 1);
                        break;
                    }
                    i -= 1;
                    if digits[i] == 9 {
                        digits[i] = 0;
                    } else {
                        digits[i] += 1;
                        break;
                    }
                }
            }
        }
        while digits.last() == Some(&0) {
            digits.pop();
            exponent += 1;
        }
        (!digits.is_empty()).then_some(Decimal { digits, exponent })
    }

    fn times(&self, other: &Decimal) -> Decimal {
        let mut product = vec![0u32; self.digits.len() + other.digits.len()];
        for (i, &a) in self.digits.iter().enumerate().rev() {
            for (j, &b) in other.digits.iter().enumerate().rev() {
                product[i + j + 1] += u32::from(a) * u32::from(b);
            }
        }
        for k in (1..product.len()).rev() {
            product[k - 1] += product[k] / 10;
            product[k] %= 10;
        }
        let digits = product.into_iter().map(|d| d as u8).collect();
        Decimal::normalized(digits, self.exponent + other.exponent).expect("a product of positives")
    }

    fn to_f64(&self) -> f64 {
        self.text().parse().unwrap_or(f64::NAN)
    }

    fn text(&self) -> String {
        let digits: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
        format!("{digits}e{}", self.exponent)
    }

    /// The nearest float, or the integer it is when `float` is false.
    fn to_json(&self, float: bool) -> Value {
        if !float && self.exponent >= 0 {
            let digits: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
            let zeros = "0".repeat(self.exponent as usize);
            if let Ok(n) = format!("{digits}{zeros}").parse::<u64>() {
                return Value::from(n);
            }
        }
        serde_json::Number::from_f64(self.to_f64()).map_or(Value::Null, Value::Number)
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    /// By magnitude (where the first digit stands), then digit by digit.
    fn cmp(&self, other: &Decimal) -> std::cmp::Ordering {
        let magnitude = |d: &Decimal| d.exponent + d.digits.len() as i64;
        magnitude(self).cmp(&magnitude(other)).then_with(|| {
            let width = self.digits.len().max(other.digits.len());
            let digit = |d: &Decimal, i: usize| d.digits.get(i).copied().unwrap_or(0);
            (0..width)
                .map(|i| digit(self, i).cmp(&digit(other, i)))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    }
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
pub(crate) fn split_top_level(spec: &str) -> Vec<&str> {
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
    fn geometric_ranges_are_exact_for_decimals() {
        let values = |spec: &str| Axis::parse(spec).unwrap().values;
        let c = values("C=0.001..1000:x10");
        assert_eq!(
            c,
            [json!(0.001), json!(0.01), json!(0.1), json!(1.0), json!(10.0), json!(100.0), json!(1000.0)]
        );
        assert_eq!(values("n=2..100:x2"), [json!(2), json!(4), json!(8), json!(16), json!(32), json!(64)]);
        assert_eq!(values("x=1e-3..1e-1:x10"), [json!(0.001), json!(0.01), json!(0.1)]);
        assert_eq!(values("x=0.7..1:x1.1"), [json!(0.7), json!(0.77), json!(0.847), json!(0.9317)]);
        // Past 40 digits, rounded half to even: still the nearest float.
        let many = values("x=1..1.5:x1.01234567890123456789");
        assert_eq!(many.len(), 34);
        for (k, value) in many.iter().enumerate() {
            let expected = 1.012_345_678_901_234_6_f64.powi(k as i32);
            assert!((value.as_f64().unwrap() / expected - 1.0).abs() < 1e-14, "{k}: {value}");
        }
        let big = values("n=1..18446744073709551615:x10");
        assert_eq!(big.last(), Some(&json!(10_000_000_000_000_000_000u64)));
        assert_eq!(Decimal::parse("1.50e1"), Decimal::parse("15"));
        assert!(
            Decimal::parse("0.0").is_none()
                && Decimal::parse("-1").is_none()
                && Decimal::parse("1e").is_none()
        );
        let round = Decimal::normalized([vec![1], vec![0; 39], vec![5]].concat(), 0).unwrap();
        assert_eq!(round.digits.len(), 1, "1000...05 rounds to even: {round:?}");
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
            "C=1..10:x1",
            "C=1..10:x0.5",
            "C=0..10:x2",
            "C=-1..10:x2",
            "C=10..1:x2",
            "C=1..10:x",
            "C=1e-300..1e300:x1.0000001",
        ] {
            assert!(Axis::parse(bad).is_err(), "{bad}");
        }
    }
}
