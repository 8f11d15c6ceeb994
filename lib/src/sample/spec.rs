//! The `--dist KEY=SPEC` grammar: each distribution and its bounds,
//! checked whole before anything is drawn.

use crate::error::{Error, Result};
use crate::identity::canonical;
use crate::values::{parse_value, split_assignment};
use serde_json::Value;

/// What a SPEC may be, for the hint of every refusal.
pub const GRAMMAR: &str = "a SPEC is uniform(A,B), loguniform(A,B) (0 < A < B), int(A,B), \
    logint(A,B) (1 <= A < B; integers, inclusive), normal(MU,SIGMA) (SIGMA > 0) or \
    choice(V1,V2,...) (two or more scalars, read as --grid reads values)";

/// The largest bound of `logint`: its integers pass through floats.
const MAX_LOGINT: i64 = 1 << 53;

/// One distribution, its parameters checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    Uniform { low: f64, high: f64 },
    LogUniform { low: f64, high: f64 },
    Int { low: i64, high: i64 },
    LogInt { low: i64, high: i64 },
    Normal { mean: f64, sd: f64 },
    Choice(Vec<Value>),
}

/// `KEY=SPEC`, as `--dist` takes it.
pub fn parse(text: &str) -> Result<(String, Dist)> {
    let (key, spec) = split_assignment("--dist", text).map_err(|_| {
        Error::usage(format!("--dist {text:?}: expected KEY=SPEC, e.g. lr=loguniform(1e-5,1e-1); {GRAMMAR}"))
    })?;
    let dist = parse_spec(spec.trim()).map_err(|why| Error::usage(format!("--dist {text:?}: {why}")))?;
    Ok((key.to_string(), dist))
}

/// A SPEC alone: `kind(args)`.
fn parse_spec(spec: &str) -> Result<Dist, String> {
    let Some((kind, rest)) = spec.split_once('(') else {
        return Err(format!("expected a distribution, not {spec:?}; {GRAMMAR}"));
    };
    let Some(args) = rest.strip_suffix(')') else {
        return Err(format!("a SPEC ends with ')': {kind}(...); {GRAMMAR}"));
    };
    let kind = kind.trim();
    if kind == "choice" {
        return choice(args);
    }
    let args: Vec<&str> = args.split(',').map(str::trim).collect();
    let two = |names: &str| -> Result<(&str, &str), String> {
        match args[..] {
            [a, b] => Ok((a, b)),
            _ => Err(format!("{kind}({names}) takes two numbers, not {}", args.len())),
        }
    };
    match kind {
        "uniform" | "loguniform" => {
            let (a, b) = two("A,B")?;
            let (low, high) = (number(kind, "A", a)?, number(kind, "B", b)?);
            if low >= high {
                return Err(format!("{kind}(A,B) needs A less than B"));
            }
            if kind == "uniform" {
                if !(high - low).is_finite() {
                    return Err(format!("uniform({a},{b}) is too wide: B-A is not a finite number"));
                }
                return Ok(Dist::Uniform { low, high });
            }
            if low <= 0.0 {
                return Err(format!(
                    "loguniform(A,B) needs A greater than 0 (its logarithm is drawn), not {a}"
                ));
            }
            Ok(Dist::LogUniform { low, high })
        }
        "int" | "logint" => {
            let (a, b) = two("A,B")?;
            let (low, high) = (integer(kind, "A", a)?, integer(kind, "B", b)?);
            if low >= high {
                return Err(format!("{kind}(A,B) needs A less than B (both are drawn: inclusive)"));
            }
            if kind == "int" {
                return Ok(Dist::Int { low, high });
            }
            if low < 1 {
                return Err(format!("logint(A,B) needs A at least 1 (its logarithm is drawn), not {a}"));
            }
            if high > MAX_LOGINT {
                return Err(format!("logint(A,B) needs B at most 2^53 ({MAX_LOGINT})"));
            }
            Ok(Dist::LogInt { low, high })
        }
        "normal" => {
            let (m, s) = two("MU,SIGMA")?;
            let (mean, sd) = (number(kind, "MU", m)?, number(kind, "SIGMA", s)?);
            if sd <= 0.0 {
                return Err(format!("normal(MU,SIGMA) needs SIGMA greater than 0, not {s}"));
            }
            // Draws reach about 8.3 SIGMA from MU; they must stay numbers.
            if !(mean.abs() + 10.0 * sd).is_finite() {
                return Err(format!("normal({m},{s}) is too wide: its draws would not be finite numbers"));
            }
            Ok(Dist::Normal { mean, sd })
        }
        _ => Err(format!("unknown distribution {kind:?}; {GRAMMAR}")),
    }
}

/// `choice(V1,V2,...)`: values split and read as `--grid` reads them,
/// each trimmed of spaces, scalars only, two or more, none twice.
fn choice(args: &str) -> Result<Dist, String> {
    if args.trim().is_empty() {
        return Err(format!("choice() needs values: choice(V1,V2,...); {GRAMMAR}"));
    }
    let parts = crate::grid::split_top_level(args);
    let mut values: Vec<Value> = Vec::with_capacity(parts.len());
    for part in parts.iter().map(|part| part.trim()) {
        if part.is_empty() {
            return Err("choice(...) has an empty value (write \"\" for an empty string)".into());
        }
        let value = parse_value(part)?;
        if value.is_array() || value.is_object() {
            return Err(format!(
                "choice(...) takes scalars (numbers, strings, true, false, null), not {part}"
            ));
        }
        if values.iter().any(|seen| canonical(seen) == canonical(&value)) {
            return Err(format!("choice(...) has the value {part} twice"));
        }
        values.push(value);
    }
    if values.len() < 2 {
        return Err("choice(...) needs two values or more: one value is a constant \
            (give it with --grid KEY=VALUE or --default KEY=VALUE)"
            .into());
    }
    Ok(Dist::Choice(values))
}

/// A finite decimal number: `[+-]digits[.digits][e[+-]digits]` (or `.5`).
fn number(kind: &str, name: &str, text: &str) -> Result<f64, String> {
    let bad = || format!("{kind}: {name} must be a number (e.g. 0.1, -3, 1e-5), not {text:?}");
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) || !exponent_ok {
        return Err(bad());
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(bad)
}

/// A 64-bit integer: `[+-]digits`.
fn integer(kind: &str, name: &str, text: &str) -> Result<i64, String> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{kind}: {name} must be an integer (e.g. 1, -3, 256), not {text:?}"));
    }
    text.parse::<i64>().map_err(|_| format!("{kind}: {name} does not fit in 64 bits: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dist(spec: &str) -> Dist {
        parse(&format!("k={spec}")).unwrap_or_else(|err| panic!("{spec}: {err}")).1
    }

    #[test]
    fn every_kind_parses() {
        assert_eq!(dist("uniform(0,1)"), Dist::Uniform { low: 0.0, high: 1.0 });
        assert_eq!(dist(" uniform( -.5 , 2.5e0 ) "), Dist::Uniform { low: -0.5, high: 2.5 });
        assert_eq!(dist("loguniform(1e-5,1e-1)"), Dist::LogUniform { low: 1e-5, high: 0.1 });
        assert_eq!(dist("int(-3,+3)"), Dist::Int { low: -3, high: 3 });
        assert_eq!(dist("logint(1,1024)"), Dist::LogInt { low: 1, high: 1024 });
        assert_eq!(dist("normal(0,1)"), Dist::Normal { mean: 0.0, sd: 1.0 });
        assert_eq!(
            dist(r#"choice(adam, 0.1,true,null,"a,b","x(y)")"#),
            Dist::Choice(vec![
                json!("adam"),
                json!(0.1),
                json!(true),
                json!(null),
                json!("a,b"),
                json!("x(y)")
            ])
        );
        assert_eq!(parse("a.b=int(1,2)").unwrap().0, "a.b");
    }

    #[test]
    fn malformed_and_degenerate_specs_say_why() {
        for (spec, why) in [
            ("loguniform(0,1)", "greater than 0"),
            ("int(5,2)", "less than"),
            ("choice()", "needs values"),
            ("uniform(1,1)", "less than"),
            ("normal(0,-1)", "greater than 0"),
            ("logint(0,9)", "at least 1"),
            ("logint(1,9007199254740993)", "2^53"),
            ("choice([1],[2])", "scalars"),
            ("choice(a,1.0,1)", "twice"),
            ("choice(x)", "two values"),
            ("beta(1,2)", "unknown"),
            ("uniform(1,2,3)", "two numbers"),
            ("int(1)", "two numbers"),
            ("uniform(a,2)", "must be a number"),
            ("uniform(1e,2)", "must be a number"),
            ("uniform(1,2e400)", "must be a number"),
            ("uniform(0x1,2)", "must be a number"),
            ("uniform(.,2)", "must be a number"),
            ("uniform(-inf,2)", "must be a number"),
            ("int(1,2.0)", "integer"),
            ("int(1,99999999999999999999)", "64 bits"),
            ("uniform(0,1", "ends with ')'"),
            ("0.5", "expected a distribution"),
            ("normal(1e308,1e308)", "too wide"),
        ] {
            let err = parse(&format!("k={spec}")).unwrap_err();
            assert!(err.message.contains(why), "{spec}: {err}");
            assert!(err.message.contains("--dist \"k="), "{spec}: {err}");
        }
        assert!(parse("uniform(0,1)").unwrap_err().message.contains("KEY=SPEC"));
    }
}
