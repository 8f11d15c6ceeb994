//! Values given on the command line: `KEY=VALUE`, where VALUE is JSON when it
//! parses as JSON and a plain string otherwise.

use crate::error::{Error, Result};
use serde_json::Value;

/// `"3"` is the number 3, `"[1,2]"` an array, `"adam"` the string "adam".
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Split `KEY=VALUE`; `option` names the flag in the error message.
pub fn split_assignment<'a>(option: &str, text: &'a str) -> Result<(&'a str, &'a str)> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim(), value)),
        _ => Err(Error::usage(format!("{option} {text:?}: expected KEY=VALUE"))),
    }
}

/// A string the way templates and the environment show it: strings raw,
/// other JSON values as JSON text.
pub fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
