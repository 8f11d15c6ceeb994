//! Values from users: `KEY=VALUE` on the command line, where VALUE is JSON
//! when it parses as JSON and a plain string otherwise, and JSON params
//! read strictly, so that whatever exp accepts it can store and read back
//! exactly.

use crate::error::{Error, Result};
use crate::identity::canonical;
use crate::model::Params;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The deepest nesting of a params object accepted (the object itself is
/// level 1), well within what every reader of the state can hold.
pub const MAX_DEPTH: usize = 64;

/// `"3"` is the number 3, `"[1,2]"` an array, `"adam"` the string "adam".
/// JSON that exp could not store exactly is refused, with why.
pub fn parse_value(text: &str) -> Result<Value, String> {
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return Ok(Value::String(text.to_string()));
    }
    parse_strict(text)
}

/// Parse JSON, refusing what would not read back the same: a key given
/// twice in one object (JSON readers keep only one), an integer beyond 64
/// bits (it would silently become a float), a NUL character (no command
/// can receive it) and nesting deeper than [`MAX_DEPTH`].
pub fn parse_strict(text: &str) -> Result<Value, String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // Lines are read one at a time: serde's "at line 1" says nothing more.
    let message = |err: serde_json::Error| err.to_string().replace(" at line 1 column ", " at column ");
    let value = Strict { depth: 0 }.deserialize(&mut deserializer).map_err(message)?;
    deserializer.end().map_err(message)?;
    check_integers(text)?;
    Ok(value)
}

/// Every integer literal outside strings (of valid JSON) must fit in 64 bits.
fn check_integers(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let (mut i, mut in_string) = (0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || b"-+.eE".contains(&bytes[i])) {
                i += 1;
            }
            let number = &text[start..i];
            let integer = !number.contains(['.', 'e', 'E']);
            if integer && number.parse::<i64>().is_err() && number.parse::<u64>().is_err() {
                return Err(format!(
                    "integer {number} does not fit in 64 bits; quote it (\"{number}\") to keep it as a string"
                ));
            }
            continue;
        }
        i += 1;
    }
    Ok(())
}

/// Builds a JSON value, checking keys, strings and depth on the way.
struct Strict {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn no_nul<E: serde::de::Error>(text: &str) -> std::result::Result<(), E> {
    if text.contains('\0') {
        return Err(E::custom(format!("{text:?} contains a NUL character, which no command can receive")));
    }
    Ok(())
}

impl Strict {
    fn deeper<E: serde::de::Error>(&self) -> std::result::Result<Strict, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(Strict { depth: self.depth + 1 })
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Value, E> {
        no_nul(v)?;
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Value, E> {
        no_nul(&v)?;
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.deeper()?)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            no_nul(&key)?;
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("key {key:?} is given twice")));
            }
            let value = map.next_value_seed(self.deeper()?)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Split `KEY=VALUE`; `option` names the flag in the error message.
pub fn split_assignment<'a>(option: &str, text: &'a str) -> Result<(&'a str, &'a str)> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim(), value)),
        _ => Err(Error::usage(format!("{option} {text:?}: expected KEY=VALUE"))),
    }
}

/// Add `KEY=VALUE` defaults to `existing`. A default may be added, never changed.
pub fn parse_defaults(existing: &Params, entries: &[String]) -> Result<Params> {
    let mut defaults = existing.clone();
    for entry in entries {
        let (key, text) = split_assignment("--default", entry)?;
        let value = parse_value(text).map_err(|why| Error::usage(format!("--default {entry:?}: {why}")))?;
        match defaults.get(key) {
            Some(old) if canonical(old) != canonical(&value) => {
                return Err(Error::usage(format!(
                    "--default {entry:?}: {key} is already {old}; a default may be added, never changed"
                )))
            }
            // The same value again (perhaps written `0.0` for `0`) keeps the old text.
            Some(_) => {}
            None => {
                defaults.insert(key.to_string(), value);
            }
        }
    }
    Ok(defaults)
}

/// A string the way templates and the environment show it: strings raw,
/// other JSON values as JSON text.
pub fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_json_refuses_what_would_not_read_back() {
        assert!(parse_strict(r#"{"a":1,"a":2}"#).unwrap_err().contains("twice"));
        assert!(parse_strict(r#"{"a":18446744073709551616}"#).unwrap_err().contains("64 bits"));
        assert!(parse_strict(r#"{"a":"x\u0000y"}"#).unwrap_err().contains("NUL"));
        assert!(parse_strict(r#"{"a\u0000":1}"#).unwrap_err().contains("NUL"));
        assert_eq!(
            parse_strict(
                r#"{"a":18446744073709551615,"b":"1e999999999999999999999","c":-9223372036854775808}"#
            )
            .unwrap()["a"],
            u64::MAX
        );
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(parse_strict(&deep(MAX_DEPTH)).is_ok());
        assert!(parse_strict(&deep(MAX_DEPTH + 1)).unwrap_err().contains("deeper"));
        assert_eq!(parse_value("adam").unwrap(), "adam");
        assert!(parse_value("18446744073709551616").is_err());
    }
}
