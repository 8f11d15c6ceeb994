//! `experiment.yaml` as exp writes it and reads it back.
//!
//! exp writes every value as JSON, which is also YAML, one top-level key
//! per line and one config per line, and ends the file with a line that
//! counts the configs:
//!
//! ```text
//! schema_version: 3
//! id: "0c6f…"
//! journal_epoch: 3
//! name: "sweep"
//! command: ["python3","train.py","--lr","{lr}"]
//! configs:
//!   "mlp-lr0.1": {"status":"done","params":{"lr":0.1},"start_time":"…",…}
//! # end of experiment.yaml: 1 configs
//! ```
//!
//! So Python's `yaml.safe_load` reads it, `grep failed experiment.yaml`
//! finds the failed configs, and exp reads it a line at a time with a JSON
//! parser. A file without the end line is accepted only in the shapes
//! written before it existed (Delphyne's, and this project's schema 1), read
//! as YAML; a file of this schema whose end line is missing or miscounts
//! was cut short or lost lines, and is refused.

use crate::error::{Error, Result};
use crate::model::{Config, Entry, Experiment, Status, Text, SCHEMA_VERSION};
use crate::store::atomic::WriteFailure;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

pub(crate) const END_PREFIX: &str = "# end of experiment.yaml: ";
const END_SUFFIX: &str = " configs";

/// The whole file for `experiment`.
pub fn render(experiment: &Experiment) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256 + 200 * experiment.configs.len());
    match render_into(experiment, &mut out) {
        Ok(_) => Ok(out),
        Err(WriteFailure::Other(err)) => Err(err),
        Err(WriteFailure::Io(err)) => Err(Error::from(err)),
    }
}

/// Write the whole file for `experiment` to `sink` a piece at a time;
/// returns where each config's line starts in it (for the index).
pub fn render_into(
    experiment: &Experiment,
    sink: &mut impl Write,
) -> std::result::Result<Vec<u64>, WriteFailure> {
    let mut offsets = Vec::with_capacity(experiment.configs.len());
    let mut out = Vec::with_capacity(1 << 16);
    let mut flushed = 0u64;
    let _ = writeln!(out, "schema_version: {SCHEMA_VERSION}");
    if let Some(id) = &experiment.id {
        let _ = writeln!(out, "id: {}", json(id));
    }
    let _ = writeln!(out, "journal_epoch: {}", experiment.journal_epoch);
    let _ = writeln!(out, "name: {}", json(&experiment.name));
    let _ = writeln!(out, "description: {}", json(&experiment.description));
    if let Some(command) = &experiment.command {
        let _ = writeln!(out, "command: {}", json(command));
    }
    if let Some(naming) = &experiment.naming {
        let _ = writeln!(out, "naming: {}", json(naming));
    }
    if let Some(workdir) = &experiment.workdir {
        let _ = writeln!(out, "workdir: {}", json(workdir));
    }
    if !experiment.defaults.is_empty() {
        let _ = writeln!(out, "defaults: {}", json(&experiment.defaults));
    }
    if !experiment.env.is_empty() {
        let _ = writeln!(out, "env: {}", json(&experiment.env));
    }
    for (key, value) in &experiment.extra {
        let _ = writeln!(out, "{}: {}", json(key), json(value));
    }
    if experiment.configs.is_empty() {
        out.extend_from_slice(b"configs: {}\n");
    } else {
        out.extend_from_slice(b"configs:\n");
    }
    for (name, entry) in &experiment.configs {
        offsets.push(flushed + out.len() as u64);
        out.extend_from_slice(b"  ");
        serde_json::to_writer(&mut out, name).map_err(json_error)?;
        out.extend_from_slice(b": ");
        // A config unchanged since it was read is written back as it was.
        match entry.text() {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => write_json(&mut out, entry.get()?)?,
        }
        out.push(b'\n');
        if out.len() >= 1 << 16 {
            sink.write_all(&out)?;
            flushed += out.len() as u64;
            out.clear();
        }
    }
    let _ = writeln!(out, "{END_PREFIX}{}{END_SUFFIX}", experiment.configs.len());
    sink.write_all(&out)?;
    Ok(offsets)
}

fn json_error(err: serde_json::Error) -> Error {
    Error::state(format!("cannot write the state: {err}"))
}

/// A value as one line of JSON that is YAML too.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    write_json(&mut out, value).expect("state values serialize");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// Write a value as one line of JSON that is also YAML: the characters
/// YAML forbids in a document or reads as line breaks (DEL, the C1
/// controls and NEL, U+2028, U+2029, U+FEFF, U+FFFE, U+FFFF), which JSON
/// may carry raw, are written as `\u` escapes.
pub fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, YamlSafe);
    value.serialize(&mut serializer).map_err(json_error)
}

struct YamlSafe;

impl serde_json::ser::Formatter for YamlSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let unsafe_for_yaml = |c: char| {
            matches!(c, '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}')
        };
        let mut start = 0;
        for (at, c) in fragment.char_indices().filter(|&(_, c)| unsafe_for_yaml(c)) {
            writer.write_all(&fragment.as_bytes()[start..at])?;
            write!(writer, "\\u{:04x}", c as u32)?;
            start = at + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// A state file read: the experiment without its configs, and its configs
/// in order, not yet in a map (a caller that only counts needs none).
pub struct Parsed {
    pub experiment: Experiment,
    pub configs: Vec<(String, Entry)>,
    /// Each config's name hashed (64-bit FNV-1a), and every name known to
    /// be a safe folder name, when read a line at a time.
    pub checked_names: Option<Vec<u64>>,
}

impl Parsed {
    /// The whole experiment, its configs in a map; a name given twice (a
    /// hand-edited file) is an error, never a config silently dropped.
    pub fn into_experiment(self) -> Result<Experiment> {
        let Parsed { mut experiment, configs, .. } = self;
        experiment.configs.reserve(configs.len());
        for (name, entry) in configs {
            let (position, earlier) = experiment.configs.insert_full(name, entry);
            if earlier.is_some() {
                let name = experiment.configs.get_index(position).map(|(n, _)| n.as_str()).unwrap_or("");
                return Err(Error::state(format!("config {name:?} is given twice")));
            }
        }
        Ok(experiment)
    }
}

/// Read the file's text. `path` is for messages.
pub fn parse(text: std::sync::Arc<String>, path: &Path) -> Result<Parsed> {
    let shared = text.clone();
    let text = text.as_str();
    let corrupt = |why: String| {
        Error::state(format!(
            "{}: corrupt: {why}; nothing was changed (restore it from a copy, or fix the line named)",
            path.display()
        ))
    };
    let version = schema_version(text);
    if version.is_some_and(|v| v > SCHEMA_VERSION) {
        return Err(Error::state(format!(
            "{}: schema version {} is newer than this exp understands ({SCHEMA_VERSION}); upgrade exp",
            path.display(),
            version.unwrap_or_default()
        )));
    }
    // Files of this schema say how many configs they hold; older ones do not.
    let expected = match version {
        Some(v) if v >= 2 => Some(end_count(text).ok_or_else(|| {
            corrupt(format!(
                "no end line ({END_PREFIX}N{END_SUFFIX}): the file was cut short, or rewritten by \
                 another tool; if it is whole, add that line with its number of configs"
            ))
        })?),
        _ => None,
    };
    if text.trim().is_empty() {
        return Err(corrupt("the file is empty".into()));
    }
    // exp's own layout is read a line at a time; anything else (Delphyne's
    // files, or ours reformatted by a YAML tool) as YAML.
    let by_lines = if expected.is_some() { parse_lines(&shared) } else { None };
    let parsed = match by_lines {
        Some(Ok(parsed)) => parsed,
        other => {
            let mut experiment = serde_yaml::from_str::<Experiment>(text).map_err(|yaml| match other {
                Some(Err(err)) => corrupt(err.message),
                _ => corrupt(yaml.to_string()),
            })?;
            let configs = std::mem::take(&mut experiment.configs).into_iter().collect();
            Parsed { experiment, configs, checked_names: None }
        }
    };
    if let Some(expected) = expected {
        if parsed.configs.len() != expected {
            return Err(corrupt(format!(
                "it holds {} configs but its end line says {expected}: lines were lost or added by hand",
                parsed.configs.len()
            )));
        }
    }
    Ok(parsed)
}

/// The experiment without its configs, read from the lines before them:
/// enough beside an index. None when the file is not in exp's own layout
/// of this schema (it is then read whole, which says what is wrong).
pub fn read_header(path: &Path) -> Result<Option<Experiment>> {
    use std::io::BufRead;
    let file = crate::store::atomic::no_follow()
        .read(true)
        .open(path)
        .map_err(|err| Error::io("cannot read", path, err))
        .and_then(|file| crate::store::atomic::regular(file, path))?;
    let mut top = serde_json::Map::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|err| Error::io("cannot read", path, err))?;
        if number == 0 && !schema_version(&line).is_some_and(|v| (2..=SCHEMA_VERSION).contains(&v)) {
            return Ok(None);
        }
        let Some((key, value)) = split_key(&line) else {
            return Ok(None);
        };
        if key == "configs" {
            return Ok(serde_json::from_value(Value::Object(top)).ok());
        }
        match serde_json::from_str(value) {
            Ok(value) => top.insert(key, value),
            Err(_) => return Ok(None),
        };
    }
    Ok(None)
}

/// The `schema_version` the file's first line declares, if any.
pub(crate) fn schema_version(text: &str) -> Option<u32> {
    let first = text.lines().next()?;
    first.strip_prefix("schema_version:")?.trim().parse().ok()
}

/// The count on the end line, which must be the last line of the file.
pub(crate) fn end_count(text: &str) -> Option<usize> {
    let body = text.strip_suffix('\n')?;
    let last = body.rsplit('\n').next()?;
    last.strip_prefix(END_PREFIX)?.strip_suffix(END_SUFFIX)?.parse().ok()
}

/// The file in the layout exp writes, a line at a time; None when it is in
/// another layout (Delphyne's, or reformatted by a YAML tool), which is then
/// read as YAML.
fn parse_lines(shared: &std::sync::Arc<String>) -> Option<Result<Parsed>> {
    let text = shared.as_str();
    let mut top = serde_json::Map::new();
    let mut lines = text.lines().enumerate();
    loop {
        let (_, line) = lines.next()?;
        let (key, value) = split_key(line)?;
        if key == "configs" {
            match value {
                "" => break,
                "{}" => return finish(top, Vec::new(), Some(Vec::new())),
                _ => return None,
            }
        }
        top.insert(key, serde_json::from_str(value).ok()?);
    }
    let mut configs = Vec::with_capacity(end_count(text).unwrap_or(0));
    let mut hashes = Vec::with_capacity(configs.capacity());
    let base = text.as_ptr() as usize;
    for (index, line) in lines {
        if line.starts_with(END_PREFIX) {
            break;
        }
        let (name, entry) = match scan_config(line) {
            Some((name, status, config)) => {
                // The entry keeps its place in one shared copy of the file.
                let start = config.as_ptr() as usize - base;
                (
                    name.to_string(),
                    Entry::from_text(status, Text::new(shared.clone(), start..start + config.len())),
                )
            }
            None => {
                let (name, config) = split_key(line.strip_prefix("  ")?)?;
                match serde_json::from_str::<Config>(config) {
                    Ok(config) => (name, Entry::new(config)),
                    Err(err) => return at(index, &name, &err.to_string()),
                }
            }
        };
        // Checked here, while the line is at hand, rather than in a later pass.
        if !crate::naming::is_safe(&name) {
            return at(index, &name, "not a safe folder name");
        }
        hashes.push(crate::hash::fnv1a(name.as_bytes()));
        configs.push((name, entry));
    }
    finish(top, configs, Some(hashes))
}

/// One config line as exp writes it (`  "NAME": {...}`), read on its own
/// (at an offset the index gives): its name and config.
pub fn parse_config_line(line: &str) -> Result<(String, Config)> {
    let bad = |why: &str| Error::state(format!("a config line of the state file is not one: {why}"));
    let (name, config) =
        split_key(line.strip_prefix("  ").ok_or_else(|| bad("no indent"))?).ok_or_else(|| bad("no name"))?;
    let config = serde_json::from_str::<Config>(config).map_err(|err| bad(&err.to_string()))?;
    if !crate::naming::is_safe(&name) {
        return Err(bad(&format!("{name:?} is not a safe folder name")));
    }
    Ok((name, config))
}

fn at(index: usize, name: &str, why: &str) -> Option<Result<Parsed>> {
    Some(Err(Error::state(format!("line {}: config {name:?}: {why}", index + 1))))
}

/// A config line as exp writes it, `  "NAME": {"status":"S",...}`, read
/// without parsing it: its name, its status and its JSON text.
pub(crate) fn scan_config(line: &str) -> Option<(&str, Status, &str)> {
    let rest = line.strip_prefix("  \"")?;
    let quote = rest.bytes().position(|b| b == b'"')?;
    let name = &rest[..quote];
    let text = rest[quote + 1..].strip_prefix(": ")?;
    let after = text.strip_prefix("{\"status\":\"")?;
    let status = after[..after.bytes().position(|b| b == b'"')?].parse().ok()?;
    let plain = !name.contains('\\') && text.ends_with('}');
    plain.then_some((name, status, text))
}

fn finish(
    top: serde_json::Map<String, Value>,
    configs: Vec<(String, Entry)>,
    checked_names: Option<Vec<u64>>,
) -> Option<Result<Parsed>> {
    let experiment = serde_json::from_value::<Experiment>(Value::Object(top));
    let parsed = experiment.map(|experiment| Parsed { experiment, configs, checked_names });
    Some(parsed.map_err(|err| Error::state(err.to_string())))
}

/// `key: value` with the key bare or JSON-quoted; the value is the rest.
pub(crate) fn split_key(line: &str) -> Option<(String, &str)> {
    let (key, rest) = if line.starts_with('"') {
        let mut keys = serde_json::Deserializer::from_str(line).into_iter::<String>();
        let key = keys.next()?.ok()?;
        (key, &line[keys.byte_offset()..])
    } else {
        let colon = line.find(':')?;
        (line[..colon].to_string(), &line[colon..])
    };
    let value = rest.strip_prefix(':')?;
    if !value.is_empty() && !value.starts_with(' ') {
        return None;
    }
    Some((key, value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Command, Params, Status};

    fn sample() -> Experiment {
        let mut experiment = Experiment {
            id: Some("abc".into()),
            journal_epoch: 4,
            name: Some("s: \"quoted\"\nline".into()),
            command: Some(Command::Argv(vec!["echo".into(), "{lr}".into()])),
            ..Experiment::default()
        };
        experiment.extra.insert("notes".into(), serde_json::json!({"by": "hand"}));
        for (i, status) in [Status::Done, Status::Todo].into_iter().enumerate() {
            let mut config =
                Config::new(serde_json::json!({"lr": i, "s": "ünï"}).as_object().cloned().unwrap());
            config.status = status;
            config.extra.insert("tag".into(), serde_json::json!(i));
            experiment.configs.insert(format!("c{i}"), config.into());
        }
        experiment
    }

    #[test]
    fn round_trips_and_reads_as_yaml_too() {
        let experiment = sample();
        let text = String::from_utf8(render(&experiment).unwrap()).unwrap();
        let mut back = parse(text.clone().into(), Path::new("x")).unwrap().into_experiment().unwrap();
        back.schema_version = experiment.schema_version;
        assert_eq!(back, experiment);
        let yaml: Experiment = serde_yaml::from_str(&text).unwrap();
        assert_eq!(yaml.configs, experiment.configs);
        assert_eq!(yaml.extra, experiment.extra);
    }

    #[test]
    fn every_prefix_is_refused() {
        let text = String::from_utf8(render(&sample()).unwrap()).unwrap();
        for end in 0..text.len() {
            if text.is_char_boundary(end) {
                assert!(
                    parse(std::sync::Arc::new(text[..end].to_string()), Path::new("x")).is_err(),
                    "prefix of {end} bytes loaded"
                );
            }
        }
    }

    #[test]
    fn a_lost_config_line_is_refused() {
        let text = String::from_utf8(render(&sample()).unwrap()).unwrap();
        let lost = text.replace("  \"c1\"", "# \"c1\"");
        assert!(parse(std::sync::Arc::new(lost), Path::new("x")).is_err());
        let empty = Experiment { configs: Default::default(), ..sample() };
        let text = String::from_utf8(render(&empty).unwrap()).unwrap();
        assert_eq!(parse(text.clone().into(), Path::new("x")).unwrap().configs.len(), 0);
        let _ = Params::new();
    }
}
