//! The metrics a command appends to `$EXP_METRICS` (`metrics.jsonl`, one
//! JSON object a line): the last line for people, the curve for exp-summary.
//!
//! The last line is what exp-run's worker lines, the human `exp-status`
//! and `exp-status --json --results` show: the last complete line that is
//! a JSON object, looked for in a bounded window at the file's end (never
//! the whole of a big file), shown as `step=3 loss=0.41`. The curve is
//! every complete line of the config's latest attempt, in long form. A
//! line still being written (no newline yet) is not read; a line that is
//! not a JSON object is skipped, with one warning per config. The file is
//! read as every file a command controls: never blocking (a FIFO in its
//! place), only when regular, never through a symlink.
//!
//! `exp-summary --metrics` columns: `name`, the params, `attempt`, then
//! every metrics field in the order first seen (nested objects flattened
//! with dots, as the results table does; a param that clashes with a
//! reserved column is `param.NAME`, a field that clashes with an earlier
//! column `metrics.NAME`). `--json` lines: `{"name","params","attempt","metrics"}`.

use crate::error::Result;
use crate::identity::merged;
use crate::model::Status;
use crate::report::{first_time, warn};
use crate::results::{csv_error, flatten, inert, Columns, Source};
use crate::store::config_files::{open_regular, ConfigFiles, METRICS};
use crate::store::Store;
use crate::values::display_value;
use indexmap::IndexMap;
use serde_json::{json, Map, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The windows at a file's end in which its last line is looked for: a
/// small one first, a larger one for long lines. A last line longer than
/// the larger is not shown.
const WINDOWS: [u64; 2] = [4 << 10, 64 << 10];
/// The longest line of a curve read; a longer one is skipped as bad.
const MAX_LINE: usize = 1 << 20;

/// A metrics line: a JSON object.
pub type Metrics = Map<String, Value>;

/// The end of a metrics file.
#[derive(Debug, Default, PartialEq)]
pub struct Tail {
    /// The last complete line that is a JSON object.
    pub last: Option<Metrics>,
    /// Complete lines after it (all those of the window, without one)
    /// that are not JSON objects.
    pub bad: usize,
}

/// The end of the metrics file `file`: its last complete line that is a
/// JSON object, read from the end, a few KiB at most unless lines are long.
pub fn tail(file: &mut File) -> std::io::Result<Tail> {
    let len = file.metadata()?.len();
    let mut found = Tail::default();
    for window in WINDOWS {
        // One byte more than the window: a newline there starts its first line.
        let start = len.saturating_sub(window + 1);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::with_capacity((len - start) as usize);
        Read::by_ref(file).take(len - start).read_to_end(&mut bytes)?;
        let decided;
        (found, decided) = scan_back(&bytes, start == 0);
        if decided {
            break;
        }
    }
    Ok(found)
}

/// The last JSON-object line among the complete lines of `bytes`, the end
/// of a file (`whole`: all of it), and whether that is known: a window that
/// starts inside a line cannot tell what that line is.
fn scan_back(bytes: &[u8], whole: bool) -> (Tail, bool) {
    let mut tail = Tail::default();
    // What follows the last newline is still being written.
    let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else { return (tail, whole) };
    let mut body = &bytes[..end];
    loop {
        let (line, before) = match body.iter().rposition(|&b| b == b'\n') {
            Some(i) => (&body[i + 1..], Some(i)),
            None if whole => (body, None),
            None => return (tail, false),
        };
        match parse(line) {
            Line::Object(metrics) => {
                tail.last = Some(metrics);
                return (tail, true);
            }
            Line::Blank => {}
            Line::Bad => tail.bad += 1,
        }
        match before {
            Some(i) => body = &body[..i],
            None => return (tail, true),
        }
    }
}

enum Line {
    Object(Metrics),
    Blank,
    Bad,
}

fn parse(line: &[u8]) -> Line {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Line::Blank;
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(metrics)) => Line::Object(metrics),
        _ => Line::Bad,
    }
}

/// A metrics line as people read it: `step=3 loss=0.41`, its fields in
/// their order, nested objects flattened with dots, values as the summary
/// writes them (control characters, a newline in a string, as spaces: it
/// is one line on a terminal).
pub fn display(metrics: &Metrics) -> String {
    let mut fields = Vec::new();
    flatten("", &Value::Object(metrics.clone()), &mut fields);
    let shown: Vec<String> =
        fields.iter().map(|(key, value)| format!("{key}={}", display_value(value))).collect();
    shown.join(" ").chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A line to show, unless it shows nothing (`{}`).
fn shown(metrics: Metrics) -> Option<String> {
    Some(display(&metrics)).filter(|line| !line.trim().is_empty())
}

/// Say once per config (of all its metrics files) that lines were skipped.
fn warn_skipped(files: &ConfigFiles, what: String) {
    if first_time(&format!("metrics of {}", files.dir.display())) {
        warn(what);
    }
}

/// The last metrics line of config `files`' file `name` (`metrics.jsonl`,
/// or an earlier attempt's `metrics.N.jsonl`). Bad lines passed over are
/// warned about (once per config) if `warn`; a file that is not regular
/// (or a folder that is a symlink) too. Costs one `stat` when there is no
/// file, or an empty one.
pub fn last_in(files: &ConfigFiles, name: &str, warn: bool) -> Option<Metrics> {
    let path = files.dir.join(name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if meta.file_type().is_file() && meta.len() == 0 {
        return None;
    }
    let folder = if warn { files.folder() } else { files.folder_quietly() }?;
    let mut file = open_regular(&folder, name, warn)?;
    let tail = tail(&mut file).ok()?;
    if warn && tail.bad > 0 {
        let which = match (tail.bad, &tail.last) {
            (1, Some(_)) => "the line after its last JSON object is not one".to_string(),
            (n, Some(_)) => format!("the {n} lines after its last JSON object are not JSON objects"),
            (_, None) => "no line near its end is a JSON object".to_string(),
        };
        warn_skipped(files, format!("{}: {which}; skipped", path.display()));
    }
    tail.last
}

/// The last metrics line of a config's latest attempt, as
/// `exp-status --json --results` carries it: None for a todo config (its
/// folder holds an earlier attempt's, not its own).
pub fn metrics_of(store: &Store, name: &str, status: Status) -> Option<Metrics> {
    match status {
        Status::Todo => None,
        Status::Running | Status::Done | Status::Failed => last_in(&store.config_files(name), METRICS, true),
    }
}

/// What a running config shows people: its last metrics line, else the
/// last line it printed (see [`ConfigFiles::last_output_line`]).
pub fn progress_line(files: &ConfigFiles) -> Option<String> {
    last_in(files, METRICS, true).and_then(shown).or_else(|| files.last_output_line())
}

/// The last metrics line of one running attempt, shown several times a
/// second (exp-run's worker lines): read again only when the file has
/// changed, and a single `stat` while the command writes none. Quiet: a
/// warning would tear the bars.
#[derive(Debug, Default)]
pub struct LastLine {
    /// The file's length and modification time when last read.
    seen: Option<(u64, i64, i64)>,
    shown: Option<String>,
}

impl LastLine {
    pub fn get(&mut self, files: &ConfigFiles) -> Option<&str> {
        let meta = std::fs::symlink_metadata(files.metrics()).ok().filter(|m| m.file_type().is_file());
        let Some(meta) = meta.filter(|meta| meta.len() > 0) else {
            (self.seen, self.shown) = (None, None);
            return None;
        };
        let seen = Some((meta.len(), meta.mtime(), meta.mtime_nsec()));
        if seen != self.seen {
            self.seen = seen;
            self.shown = last_in(files, METRICS, false).and_then(shown);
        }
        self.shown.as_deref()
    }
}

/// Every complete line of an open metrics file up to byte `end`, in
/// order: `each(number, object)` for each JSON object (lines numbered from
/// 1), blank lines passed over. Returns the end of the last complete line
/// and the bad lines: (first's number, how many).
fn each_line(
    file: &File,
    end: u64,
    mut each: impl FnMut(usize, Metrics) -> Result<()>,
) -> Result<(u64, Option<(usize, usize)>)> {
    let mut reader = BufReader::with_capacity(64 << 10, file.take(end));
    let (mut line, mut too_long) = (Vec::new(), false);
    let (mut number, mut read, mut complete) = (0, 0u64, 0u64);
    let mut bad: Option<(usize, usize)> = None;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            // What is left has no newline yet: still being written.
            return Ok((complete, bad));
        }
        let newline = buffer.iter().position(|&b| b == b'\n');
        let chunk = &buffer[..newline.unwrap_or(buffer.len())];
        if !too_long && line.len() + chunk.len() > MAX_LINE {
            (too_long, line) = (true, Vec::new());
        }
        if !too_long {
            line.extend_from_slice(chunk);
        }
        let used = chunk.len() + usize::from(newline.is_some());
        reader.consume(used);
        read += used as u64;
        if newline.is_none() {
            continue;
        }
        number += 1;
        complete = read;
        let parsed = if too_long { Line::Bad } else { parse(&line) };
        match parsed {
            Line::Object(metrics) => each(number, metrics)?,
            Line::Blank => {}
            Line::Bad => {
                let (first, count) = bad.unwrap_or((number, 0));
                bad = Some((first, count + 1));
            }
        }
        line.clear();
        too_long = false;
    }
}

/// The curve of one config: every complete metrics line of `file` (up to
/// byte `end`), bad lines warned about once for the config.
fn read_curve(
    files: &ConfigFiles,
    file: &File,
    end: u64,
    each: impl FnMut(usize, Metrics) -> Result<()>,
) -> Result<u64> {
    let (complete, bad) = each_line(file, end, each)?;
    if let Some((first, count)) = bad {
        let more = match count {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        let path = files.metrics();
        warn_skipped(files, format!("{}: line {first} is not a JSON object{more}; skipped", path.display()));
    }
    Ok(complete)
}

/// Every metrics line of `path` that is a JSON object, in order (a partial
/// last line and bad lines skipped); None if it is not a regular file.
pub fn curve(path: &Path) -> Option<Vec<Metrics>> {
    let (parent, name) = (path.parent()?, path.file_name()?.to_str()?);
    let folder = crate::store::folder::Folder::root(parent).ok()?;
    let file = open_regular(&folder, name, true)?;
    let end = file.metadata().ok()?.len();
    let mut lines = Vec::new();
    each_line(&file, end, |_, metrics| {
        lines.push(metrics);
        Ok(())
    })
    .ok()?;
    Some(lines)
}

/// A config whose latest attempt has a metrics file, as the first reading
/// found it: the file (by device and inode) and its complete lines' end.
struct Found<'a> {
    source: usize,
    name: &'a str,
    attempt: u32,
    identity: (u64, u64),
    end: u64,
}

/// `each(source, name, attempt, files, file)` for the metrics file of the
/// latest attempt of every config that ran, of each of `sources`, opened
/// one at a time; `tick` once per config.
fn each_metrics_file<'a>(
    sources: &[Source<'a>],
    tick: &mut dyn FnMut(),
    mut each: impl FnMut(usize, &'a str, u32, &ConfigFiles, File) -> Result<()>,
) -> Result<()> {
    for (index, source) in sources.iter().enumerate() {
        for (name, entry) in &source.experiment.configs {
            tick();
            let config = entry.read()?;
            // A folder in the name of a config that never ran is not its own.
            if !config.has_run() {
                continue;
            }
            let files = source.store.config_files(name);
            if std::fs::symlink_metadata(files.metrics()).is_err() {
                continue;
            }
            if let Some(file) = files.folder().and_then(|folder| open_regular(&folder, METRICS, true)) {
                each(index, name.as_str(), config.attempts, &files, file)?;
            }
        }
    }
    Ok(())
}

/// A config's params, merged over its experiment's defaults.
fn merged_params(source: &Source, name: &str) -> Result<Map<String, Value>> {
    Ok(merged(&source.experiment.defaults, &source.experiment.configs[name].read()?.params))
}

/// `exp-summary --metrics --json`: one line per metrics line of each
/// config's latest attempt (`experiment` first, of several). `tick` is
/// called once per config.
pub fn write_curves_json(sources: &[Source], mut out: impl Write, tick: &mut dyn FnMut()) -> Result<()> {
    each_metrics_file(sources, tick, |source, name, attempt, files, file| {
        let params = Value::Object(merged_params(&sources[source], name)?);
        let label = sources[source].label;
        let end = file.metadata()?.len();
        read_curve(files, &file, end, |_, metrics| {
            let mut line = Map::new();
            if let Some(label) = label {
                line.insert("experiment".into(), json!(label));
            }
            line.insert("name".into(), json!(name));
            line.insert("params".into(), params.clone());
            line.insert("attempt".into(), json!(attempt));
            line.insert("metrics".into(), Value::Object(metrics));
            serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            Ok(())
        })?;
        Ok(())
    })?;
    out.flush()?;
    Ok(())
}

/// `exp-summary --metrics`: the curves in long form, as CSV. The files are
/// read twice (for the columns, then the rows), the second time up to
/// where the first stopped, so a running config's curve is one snapshot
/// and memory does not grow with the curves. `raw`: text cells as they are
/// (else made inert for spreadsheets, as the results table does).
pub fn write_curves_csv(
    sources: &[Source],
    raw: bool,
    out: impl Write,
    tick: &mut dyn FnMut(),
) -> Result<()> {
    let mut columns = Columns::reserved();
    let many = sources.iter().any(|source| source.label.is_some());
    let mut params_of: Vec<Vec<(String, Value)>> = Vec::new();
    let mut param_index: IndexMap<String, usize> = IndexMap::new();
    let mut metric_keys: IndexMap<String, ()> = IndexMap::new();
    let mut found = Vec::new();
    each_metrics_file(sources, tick, |source, name, attempt, files, file| {
        let meta = file.metadata()?;
        let end = read_curve(files, &file, meta.len(), |_, metrics| {
            let mut fields = Vec::new();
            flatten("", &Value::Object(metrics), &mut fields);
            for (key, _) in fields {
                metric_keys.entry(key).or_default();
            }
            Ok(())
        })?;
        if end == 0 {
            return Ok(());
        }
        let mut params = Vec::new();
        flatten("", &Value::Object(merged_params(&sources[source], name)?), &mut params);
        for (key, _) in &params {
            if !param_index.contains_key(key) {
                param_index.insert(key.clone(), columns.add(key, "param"));
            }
        }
        params_of.push(params);
        found.push(Found { source, name, attempt, identity: (meta.dev(), meta.ino()), end });
        Ok(())
    })?;
    let metric_index: IndexMap<String, usize> =
        metric_keys.into_keys().map(|key| (key.clone(), columns.add(&key, "metrics"))).collect();

    let mut writer = csv::Writer::from_writer(out);
    let cell = |text: String| if raw { text } else { inert(text) };
    let mut header: Vec<String> = many.then(|| "experiment".to_string()).into_iter().collect();
    header.push("name".to_string());
    header.extend(param_index.values().map(|&i| cell(columns.headers[i].clone())));
    header.push("attempt".to_string());
    header.extend(metric_index.values().map(|&i| cell(columns.headers[i].clone())));
    writer.write_record(&header).map_err(csv_error)?;
    for (config, params) in found.iter().zip(&params_of) {
        let source = &sources[config.source];
        let files = source.store.config_files(config.name);
        // The same file as first read: a new attempt may have replaced it.
        let Some(file) = files.folder_quietly().and_then(|folder| open_regular(&folder, METRICS, false))
        else {
            continue;
        };
        if file.metadata().map(|m| (m.dev(), m.ino())).ok() != Some(config.identity) {
            continue;
        }
        let mut head: Vec<String> =
            source.label.filter(|_| many).map(|l| cell(l.to_string())).into_iter().collect();
        let first = head.len() + 1;
        head.push(cell(config.name.to_string()));
        head.extend(std::iter::repeat_n(String::new(), param_index.len()));
        for (key, value) in params {
            head[first + param_index.get_index_of(key).expect("indexed")] = cell(display_value(value));
        }
        head.push(config.attempt.to_string());
        each_line(&file, config.end, |_, metrics| {
            let mut record = head.clone();
            record.extend(std::iter::repeat_n(String::new(), metric_index.len()));
            let mut fields = Vec::new();
            flatten("", &Value::Object(metrics), &mut fields);
            for (key, value) in fields {
                if let Some(i) = metric_index.get_index_of(&key) {
                    record[head.len() + i] = cell(display_value(&value));
                }
            }
            writer.write_record(&record).map_err(csv_error)
        })?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Metrics {
        serde_json::from_str(text).unwrap()
    }

    fn file_with(tmp: &tempfile::TempDir, bytes: &[u8]) -> File {
        let path = tmp.path().join("metrics.jsonl");
        std::fs::write(&path, bytes).unwrap();
        File::open(path).unwrap()
    }

    #[test]
    fn a_line_shows_as_keys_and_values_in_its_order() {
        assert_eq!(display(&object(r#"{"step": 3, "loss": 0.41}"#)), "step=3 loss=0.41");
        assert_eq!(
            display(&object(r#"{"z": "warm up", "val": {"acc": 0.9, "n": [1, 2]}, "ok": true, "x": null}"#)),
            "z=warm up val.acc=0.9 val.n=[1,2] ok=true x=null"
        );
        assert_eq!(display(&Metrics::new()), "");
        assert_eq!(shown(Metrics::new()), None, "an empty object leaves the output line shown");
        assert_eq!(display(&object(r#"{"msg": "a\nb\tc"}"#)), "msg=a b c");
    }

    #[test]
    fn the_last_complete_object_line_is_found_from_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let last = |bytes: &[u8]| tail(&mut file_with(&tmp, bytes)).unwrap();
        assert_eq!(last(b""), Tail::default());
        assert_eq!(last(b"{\"a\":1}"), Tail::default(), "a line without its newline is still being written");
        assert_eq!(last(b"{\"a\":1}\n{\"a\":2"), Tail { last: Some(object(r#"{"a":1}"#)), bad: 0 });
        assert_eq!(last(b"{\"a\":1}\n\n  \n"), Tail { last: Some(object(r#"{"a":1}"#)), bad: 0 });
        assert_eq!(
            last(b"{\"a\":1}\nnot json\n[1]\n{\"a\":"),
            Tail { last: Some(object(r#"{"a":1}"#)), bad: 2 }
        );
        assert_eq!(last(b"oops\n"), Tail { last: None, bad: 1 });
    }

    #[test]
    fn the_tail_reads_a_window_and_never_a_cut_line() {
        let tmp = tempfile::tempdir().unwrap();
        let last = |bytes: &[u8]| tail(&mut file_with(&tmp, bytes)).unwrap().last;
        // Garbage, then a line about as long as the small window (whose
        // read starts a byte early, to see the newline before its first).
        let small = WINDOWS[0] as usize;
        for len in [small - 1, small, small + 1, small + 2] {
            let line = format!("{{\"k\":\"{}\"}}\n", "v".repeat(len - 9));
            let mut bytes = vec![0xffu8; 3 << 20];
            bytes.push(b'\n');
            bytes.extend_from_slice(line.as_bytes());
            let expected = object(line.trim());
            assert_eq!(last(&bytes), Some(expected), "line of {} bytes", line.len());
        }
        // A line longer than the small window: found in the larger one.
        let long = format!("{{\"k\":\"{}\"}}\n", "v".repeat(10_000));
        let mut bytes = b"{\"k\":0}\n".to_vec();
        bytes.extend_from_slice(long.as_bytes());
        assert_eq!(last(&bytes), Some(object(long.trim())));
        // The small window holds a cut object and then junk: the larger
        // one finds the earlier object, whole.
        let mut bytes = long.clone().into_bytes();
        bytes.extend_from_slice(b"junk\n");
        assert_eq!(last(&bytes), Some(object(long.trim())));
        // Longer than every window: nothing rather than its cut end.
        let huge = format!("{{\"k\":\"{}\"}}\n", "v".repeat(100_000));
        let mut bytes = b"{\"k\":0}\n".to_vec();
        bytes.extend_from_slice(huge.as_bytes());
        assert_eq!(last(&bytes), None);
        // A file of one line is read whole up to the larger window and a byte.
        for extra in [0, 1, 2] {
            let line = format!("{{\"k\":\"{}\"}}\n", "v".repeat(WINDOWS[1] as usize - 9 + extra));
            let expected = if extra < 2 { Some(object(line.trim())) } else { None };
            assert_eq!(last(line.as_bytes()), expected, "{} bytes", line.len());
        }
    }

    #[test]
    fn a_curve_is_every_complete_object_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("metrics.jsonl");
        let long = format!("{{\"k\":\"{}\"}}\n", "v".repeat(MAX_LINE));
        let text = format!("{{\"s\":1}}\nbad\n\n{long}{{\"s\":2}}\n{{\"s\":3");
        std::fs::write(&path, text).unwrap();
        let lines = curve(&path).unwrap();
        assert_eq!(lines, [object(r#"{"s":1}"#), object(r#"{"s":2}"#)]);
        let file = File::open(&path).unwrap();
        let (end, bad) = each_line(&file, u64::MAX, |_, _| Ok(())).unwrap();
        assert_eq!(bad, Some((2, 2)), "the bad line and the too long one");
        assert_eq!(end, std::fs::metadata(&path).unwrap().len() - "{\"s\":3".len() as u64);
        nix::unistd::mkfifo(&tmp.path().join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(curve(&tmp.path().join("fifo")), None, "a FIFO is not read");
    }
}
