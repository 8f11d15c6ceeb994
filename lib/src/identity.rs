//! Config identity: params merged over the defaults, as canonical JSON
//! (sorted keys, numbers by value, so `1` and `1.0` are one config).

use crate::model::Params;
use serde_json::{Number, Value};

/// The params a config really runs with: its own (in their order), then the
/// experiment's defaults for keys it lacks.
pub fn merged(defaults: &Params, params: &Params) -> Params {
    let mut all = params.clone();
    for (key, value) in defaults {
        if !all.contains_key(key) {
            all.insert(key.clone(), value.clone());
        }
    }
    all
}

/// The canonical text of merged params: two configs are the same iff these are equal.
pub fn identity(defaults: &Params, params: &Params) -> String {
    let mut out = String::new();
    write_object(&mut out, |key| params.get(key).or_else(|| defaults.get(key)), {
        let mut keys: Vec<&String> = defaults.keys().chain(params.keys()).collect();
        keys.sort();
        keys.dedup();
        keys
    });
    out
}

/// Canonical JSON of any value.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(&mut out, value);
    out
}

fn write_object<'a>(out: &mut String, get: impl Fn(&str) -> Option<&'a Value>, keys: Vec<&String>) {
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(key.clone()).to_string());
        out.push(':');
        if let Some(value) = get(key) {
            write_canonical(out, value);
        }
    }
    out.push('}');
}

fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Number(n) => out.push_str(&canonical_number(n)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            write_object(out, |key| map.get(key), keys);
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Integral floats print as integers, so `1.0`, `1` and `1e0` agree, and
/// `1e16` is `10000000000000000` (integers beyond 64 bits are refused).
fn canonical_number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    // Exactly an integer, and one that an i64 or a u64 could hold.
    if f.fract() == 0.0 && (i64::MIN as f64..u64::MAX as f64).contains(&f) {
        format!("{}", f as i128)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Params {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn numbers_by_value_and_keys_sorted() {
        let none = Params::new();
        let a = identity(&none, &obj(json!({"lr": 1, "b": {"y": 2.0, "x": [1.50]}})));
        let b = identity(&none, &obj(json!({"b": {"x": [1.5], "y": 2}, "lr": 1.0})));
        assert_eq!(a, b);
        assert_ne!(a, identity(&none, &obj(json!({"lr": "1", "b": {"x": [1.5], "y": 2}}))));
    }

    #[test]
    fn defaults_fill_missing_keys() {
        let defaults = obj(json!({"seed": 0}));
        assert_eq!(
            identity(&defaults, &obj(json!({"lr": 1}))),
            identity(&Params::new(), &obj(json!({"lr": 1, "seed": 0})))
        );
    }
}
