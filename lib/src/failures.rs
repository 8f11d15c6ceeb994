//! `exp-status --failures`: the failed configs grouped by the signature of their error, with the params that tell each group apart.
//!
//! A signature is the recorded error with what varies from one failure to
//! the next masked ([`signature`]): quoted texts, paths, hex ids, numbers.
//! Groups come largest first, ties by signature, so group numbers are stable
//! for a given set of failures (`--group N` names one). A group's telling
//! params ([`Telling`]) are the values that set it apart from the
//! experiment: held by every config of a group of 2 or more but not by every
//! config of the experiment, or at least twice as frequent in a group of 3
//! or more as in the whole experiment (every config, any status).
//!
//! Only the state is read (the error text is kept there), never a config's
//! folder; counting costs one hash-map lookup per param of each config, and
//! only values that some failed config holds are counted.

use crate::color;
use crate::error::Result;
use crate::model::{Entry, Params, Status};
use crate::report::first_few;
use crate::status::why_failed;
use crate::store::census::Census;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// What stands for a quoted text in a signature.
pub const QUOTED: &str = "\"…\"";

/// The signature of an error: the text with every quoted text (`'...'`,
/// `"..."`) as `"…"`, every whitespace-separated token that contains `/` as
/// `PATH`, every hex run of 6 or more as `H`, and every number (decimal,
/// with sign, fraction or exponent) as `N`, in that order. So `exit code 1`
/// and `exit code 2` share one.
///
/// - A quote opens only where a word does not go on (`don't` opens none)
///   and closes at the next same quote not followed by a letter or digit
///   nor escaped by `\`; one that never closes is left as it is.
/// - A path keeps the punctuation around it: `(/a/b.py:3),` is `(PATH),`.
/// - A hex run stands alone (no letter or digit on either side; `_` and
///   `-` separate) and is not all decimal digits (those are numbers): a hash
///   `3f2a9c81`, `deadbeef`, `0x7f3a9c2b` (`0x` with fewer than 6 hex
///   digits is a number), a UUID. A run that reads as a number whole
///   (`1234e10`) is one.
/// - A number may stand inside a word (`cuda:0`, `worker12`, `lr0.1-s0`
///   give `cuda:N`, `workerN`, `lrN-sN`); a sign counts only where no
///   letter or digit comes before it (`x=-3` is `x=N`, `a-3` is `a-N`).
pub fn signature(error: &str) -> String {
    let mut out = String::with_capacity(error.len());
    let bytes = error.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        // A mask already there is one piece: its quotes pair with no other.
        if bytes[i..].starts_with(QUOTED.as_bytes()) {
            i += QUOTED.len();
            continue;
        }
        let quote = bytes[i];
        if (quote == b'\'' || quote == b'"') && (i == 0 || !is_word(bytes[i - 1])) {
            if let Some(close) = closing_quote(bytes, i) {
                unquoted(&error[start..i], &mut out);
                out.push_str(QUOTED);
                (start, i) = (close + 1, close + 1);
                continue;
            }
        }
        i += 1;
    }
    unquoted(&error[start..], &mut out);
    out
}

/// A letter or digit: what continues a word (and a number or hex run).
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Where the quote opened at `open` closes: the next same quote that no
/// letter or digit follows, no `\` escapes and no mask holds.
fn closing_quote(bytes: &[u8], open: usize) -> Option<usize> {
    let quote = bytes[open];
    let mask = QUOTED.as_bytes();
    // A quote of a mask (`"…"`) already there closes nothing.
    let in_mask = |j: usize| bytes[j..].starts_with(mask) || bytes[..=j].ends_with(mask);
    (open + 1..bytes.len()).find(|&j| {
        bytes[j] == quote
            && bytes[j - 1] != b'\\'
            && bytes.get(j + 1).is_none_or(|&b| !is_word(b))
            && !in_mask(j)
    })
}

/// Text outside quotes: tokens with `/` as `PATH`, the rest by [`words`].
fn unquoted(text: &str, out: &mut String) {
    let mut rest = text;
    while !rest.is_empty() {
        let space = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_whitespace()).len();
        out.push_str(&rest[..space]);
        rest = &rest[space..];
        let end = rest.find(|c: char| c.is_ascii_whitespace()).unwrap_or(rest.len());
        let token = &rest[..end];
        rest = &rest[end..];
        if token.contains('/') {
            let core = token.trim_start_matches(['(', '[', '{', '<']);
            let lead = &token[..token.len() - core.len()];
            let core = core.trim_end_matches([')', ']', '}', '>', '.', ',', ';', ':', '!', '?']);
            let trail = &token[lead.len() + core.len()..];
            out.push_str(lead);
            out.push_str("PATH");
            out.push_str(trail);
        } else {
            words(token, out);
        }
    }
}

/// A token without `/`: hex runs as `H`, numbers as `N`.
fn words(token: &str, out: &mut String) {
    let bytes = token.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let stands_alone = i == 0 || !is_word(bytes[i - 1]);
        let mask = if stands_alone { hex_at(bytes, i) } else { None }.or_else(|| {
            let len = number_at(bytes, i, stands_alone);
            (len > 0).then_some(("N", len))
        });
        match mask {
            Some((mask, len)) => {
                out.push_str(&token[copied..i]);
                out.push_str(mask);
                i += len;
                copied = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&token[copied..]);
}

/// A hex id at `i` (a word starts there): `("H", len)`, or `("N", len)`
/// for a short `0x` number; None if there is none.
fn hex_at(bytes: &[u8], i: usize) -> Option<(&'static str, usize)> {
    let run =
        |from: usize| bytes[from.min(bytes.len())..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let ends_word = |end: usize| bytes.get(end).is_none_or(|&b| !is_word(b));
    // A UUID: 8-4-4-4-12 hex digits.
    let mut at = i;
    let uuid = [8, 4, 4, 4, 12].iter().enumerate().all(|(k, &len)| {
        let ok = run(at) == len && (k == 4 || bytes.get(at + len) == Some(&b'-'));
        at += len + 1;
        ok
    });
    if uuid && ends_word(i + 36) {
        return Some(("H", 36));
    }
    if bytes[i] == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'X')) {
        let len = run(i + 2);
        if len > 0 && ends_word(i + 2 + len) {
            return Some((if len >= 6 { "H" } else { "N" }, 2 + len));
        }
    }
    let len = run(i);
    let digits_only = bytes[i..i + len].iter().all(u8::is_ascii_digit);
    if len >= 6 && ends_word(i + len) && !digits_only && number_at(bytes, i, true) < len {
        return Some(("H", len));
    }
    None
}

/// The length of the number at `i` (0 if none): an optional sign (only
/// where a word starts), digits with an optional fraction, or a fraction
/// alone after no digit, then an optional exponent.
fn number_at(bytes: &[u8], i: usize, stands_alone: bool) -> usize {
    let digits =
        |from: usize| bytes[from.min(bytes.len())..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut at = i;
    if stands_alone && matches!(bytes[at], b'+' | b'-') {
        at += 1;
    }
    let whole = digits(at);
    let after_digit = i > 0 && bytes[i - 1].is_ascii_digit();
    at += whole;
    if bytes.get(at) == Some(&b'.') && digits(at + 1) > 0 && (whole > 0 || !after_digit) {
        at += 1 + digits(at + 1);
    } else if whole == 0 {
        return 0;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(at + 1), Some(b'+' | b'-')));
        let exponent = digits(at + 1 + sign);
        if exponent > 0 {
            at += 1 + sign + exponent;
        }
    }
    at - i
}

/// A failed config as grouping needs it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub name: String,
    /// Its recorded error, or what its record says of its end (`exit code
    /// 1`, `killed by SIGKILL`) when it has none.
    pub error: String,
    /// Its params merged over the defaults: (key, the value's JSON text).
    pub params: Vec<(String, String)>,
}

/// A group of failures that share a signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub signature: String,
    /// The error of its first config (in the experiment's order), verbatim.
    pub example: String,
    /// Its configs' names, in the experiment's order.
    pub names: Vec<String>,
    /// The telling params: each key's telling values, most held first.
    pub params: BTreeMap<String, Vec<Telling>>,
}

/// A telling value of a param, and the counts that make it telling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Telling {
    pub value: Value,
    /// Configs of the group that hold it.
    pub in_group: u64,
    /// Configs in the group.
    pub group: u64,
    /// Configs of the experiment that hold it (any status).
    pub in_all: u64,
    /// Configs in the experiment.
    pub all: u64,
}

impl Telling {
    /// Held by every config of its group.
    pub fn held_by_all(&self) -> bool {
        self.in_group == self.group
    }

    /// Whether a value held by `in_group` of `group` configs and by `in_all`
    /// of `all` is telling: by every config of a group of 2 or more but not
    /// by every config, or (a group of 3 or more) at least twice as often,
    /// as fractions, in the group as in the experiment.
    pub fn is_telling(in_group: u64, group: u64, in_all: u64, all: u64) -> bool {
        let everywhere = in_all >= all;
        let all_have = group >= 2 && in_group == group && !everywhere;
        // in_group/group >= 2 * in_all/all, in integers.
        let twice = group >= 3
            && u128::from(in_group) * u128::from(all) >= 2 * u128::from(in_all) * u128::from(group);
        all_have || twice
    }

    /// How many times more frequent in the group than in the experiment.
    fn lift(&self) -> f64 {
        (self.in_group as f64 / self.group as f64)
            / (self.in_all as f64 / self.all.max(1) as f64).max(f64::MIN_POSITIVE)
    }
}

/// Failures with a signature in common, counts of their params' values.
#[derive(Debug)]
pub struct Draft {
    signature: String,
    failures: Vec<Failure>,
    /// (key, value JSON) -> how many of `failures` hold it.
    held: HashMap<(String, String), u64>,
}

/// Group failures by signature: largest first, ties by signature.
pub fn draft(failures: Vec<Failure>) -> Vec<Draft> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut drafts: Vec<Draft> = Vec::new();
    for failure in failures {
        let signature = signature(&failure.error);
        let at = *index.entry(signature.clone()).or_insert_with(|| {
            drafts.push(Draft { signature, failures: Vec::new(), held: HashMap::new() });
            drafts.len() - 1
        });
        let draft = &mut drafts[at];
        for pair in &failure.params {
            *draft.held.entry(pair.clone()).or_default() += 1;
        }
        draft.failures.push(failure);
    }
    drafts
        .sort_by(|a, b| b.failures.len().cmp(&a.failures.len()).then_with(|| a.signature.cmp(&b.signature)));
    drafts
}

/// How many configs of the experiment hold each value some draft holds.
#[derive(Debug, Default)]
pub struct Counter {
    /// key -> value JSON -> configs holding it.
    counts: HashMap<String, HashMap<String, u64>>,
    /// Configs counted.
    all: u64,
    buffer: Vec<u8>,
}

impl Counter {
    /// A counter of the values `drafts` hold, none counted yet.
    pub fn new(drafts: &[Draft]) -> Counter {
        let mut counter = Counter::default();
        for draft in drafts {
            for (key, value) in draft.held.keys() {
                counter.counts.entry(key.clone()).or_default().entry(value.clone()).or_default();
            }
        }
        counter
    }

    /// Count one config of the experiment by its params and the defaults.
    pub fn count(&mut self, defaults: &Params, params: &Params) {
        self.all += 1;
        for (key, value) in params {
            self.count_value(key, value);
        }
        for (key, value) in defaults.iter().filter(|(key, _)| !params.contains_key(*key)) {
            self.count_value(key, value);
        }
    }

    /// Count one config given as its (key, value JSON) pairs.
    pub fn count_pairs(&mut self, pairs: &[(String, String)]) {
        self.all += 1;
        for (key, value) in pairs {
            if let Some(count) = self.counts.get_mut(key).and_then(|values| values.get_mut(value)) {
                *count += 1;
            }
        }
    }

    fn count_value(&mut self, key: &str, value: &Value) {
        let Some(values) = self.counts.get_mut(key) else { return };
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, value).expect("a JSON value writes to memory");
        let text = std::str::from_utf8(&self.buffer).expect("JSON text is UTF-8");
        if let Some(count) = values.get_mut(text) {
            *count += 1;
        }
    }

    fn get(&self, key: &str, value: &str) -> u64 {
        self.counts.get(key).and_then(|values| values.get(value)).copied().unwrap_or(0)
    }
}

/// The groups, from drafts and a counter that has counted every config
/// of the experiment (the drafts' own included).
pub fn finish(drafts: Vec<Draft>, counter: &Counter) -> Vec<Group> {
    drafts
        .into_iter()
        .map(|draft| {
            let group = draft.failures.len() as u64;
            let mut params: BTreeMap<String, Vec<Telling>> = BTreeMap::new();
            for ((key, value), in_group) in draft.held {
                let in_all = counter.get(&key, &value);
                if Telling::is_telling(in_group, group, in_all, counter.all) {
                    let value = serde_json::from_str(&value).unwrap_or(Value::String(value));
                    params.entry(key).or_default().push(Telling {
                        value,
                        in_group,
                        group,
                        in_all,
                        all: counter.all,
                    });
                }
            }
            for values in params.values_mut() {
                values.sort_by_cached_key(|t| (std::cmp::Reverse(t.in_group), t.value.to_string()));
            }
            let example = draft.failures[0].error.clone();
            Group {
                signature: draft.signature,
                example,
                names: draft.failures.into_iter().map(|f| f.name).collect(),
                params,
            }
        })
        .collect()
}

/// A config's params merged over the defaults, as (key, value JSON) pairs.
pub fn pairs(defaults: &Params, params: &Params) -> Vec<(String, String)> {
    let merged = params.iter().chain(defaults.iter().filter(|(key, _)| !params.contains_key(*key)));
    merged.map(|(key, value)| (key.clone(), value.to_string())).collect()
}

/// A config's line read for its params only.
#[derive(serde::Deserialize)]
struct OnlyParams {
    #[serde(default)]
    params: Params,
}

/// The failure groups of an experiment, from its state alone.
pub fn groups(census: &Census) -> Result<Vec<Group>> {
    groups_among(&census.experiment.defaults, census.configs.iter().map(|(name, entry)| (name, entry)))
}

/// The failure groups of `configs` (every config of an experiment whose
/// defaults are `defaults`).
pub fn groups_among<'a>(
    defaults: &Params,
    configs: impl Iterator<Item = (&'a String, &'a Entry)> + Clone,
) -> Result<Vec<Group>> {
    let mut failures = Vec::new();
    for (name, entry) in configs.clone().filter(|(_, e)| e.status() == Status::Failed) {
        let config = entry.read()?;
        failures.push(Failure {
            name: name.clone(),
            error: why_failed(&config),
            params: pairs(defaults, &config.params),
        });
    }
    if failures.is_empty() {
        return Ok(Vec::new());
    }
    let drafts = draft(failures);
    let mut counter = Counter::new(&drafts);
    for (_, entry) in configs.filter(|(_, e)| e.status() != Status::Failed) {
        // Its params alone, when its text is at hand: half the cost of
        // reading the whole config, a million times.
        match entry.text().and_then(|text| serde_json::from_str::<OnlyParams>(text).ok()) {
            Some(only) => counter.count(defaults, &only.params),
            None => counter.count(defaults, &entry.read()?.params),
        }
    }
    for failure in drafts.iter().flat_map(|d| &d.failures) {
        counter.count_pairs(&failure.params);
    }
    Ok(finish(drafts, &counter))
}

/// A group as one `--json` line: `{"group","signature","count","example","names","params"}`.
#[derive(Debug, Serialize)]
pub struct Line<'a> {
    pub group: usize,
    pub signature: &'a str,
    pub count: usize,
    pub example: &'a str,
    pub names: &'a [String],
    pub params: &'a BTreeMap<String, Vec<Telling>>,
}

impl Group {
    /// Its `--json` line, as group `number` (1 is the largest).
    pub fn line(&self, number: usize) -> Line<'_> {
        Line {
            group: number,
            signature: &self.signature,
            count: self.names.len(),
            example: &self.example,
            names: &self.names,
            params: &self.params,
        }
    }

    /// Its telling params for people, most telling first: `all have
    /// batch=512`, `lr=0.1 in 9 of 14 (12% overall)`. A value held by one
    /// config of the group is no pattern to name (an index, a seed): it is
    /// left to `--json`.
    pub fn telling(&self) -> String {
        let mut all_have = Vec::new();
        let mut frequent: Vec<(&String, &Telling)> = Vec::new();
        for (key, values) in &self.params {
            for telling in values {
                if telling.held_by_all() {
                    all_have.push(format!("{key}={}", shown(&telling.value)));
                } else if telling.in_group >= 2 {
                    frequent.push((key, telling));
                }
            }
        }
        frequent.sort_by(|a, b| b.1.lift().total_cmp(&a.1.lift()).then_with(|| a.0.cmp(b.0)));
        let mut parts = Vec::new();
        if !all_have.is_empty() {
            parts.push(format!("all have {}", all_have.join(", ")));
        }
        for (key, t) in frequent.iter().take(SHOWN_FREQUENT) {
            let overall = percent(t.in_all, t.all);
            parts.push(format!(
                "{key}={} in {} of {} ({overall} overall)",
                shown(&t.value),
                t.in_group,
                t.group
            ));
        }
        if frequent.len() > SHOWN_FREQUENT {
            parts.push(format!("and {} more", frequent.len() - SHOWN_FREQUENT));
        }
        parts.join("; ")
    }
}

/// How many values more frequent in a group the table names (JSON has all).
const SHOWN_FREQUENT: usize = 3;

/// A value as people read it: strings bare, others as JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `12%`, `0.4%`, `<0.1%`.
fn percent(part: u64, whole: u64) -> String {
    let pct = 100.0 * part as f64 / whole.max(1) as f64;
    match pct {
        p if p >= 1.0 || p == 0.0 => format!("{p:.0}%"),
        p if p >= 0.05 => format!("{p:.1}%"),
        _ => "<0.1%".to_string(),
    }
}

/// What the table's first line counts: failed configs, configs, groups.
#[derive(Debug, Clone, Copy)]
pub struct Totals {
    pub failed: usize,
    pub all: usize,
    pub groups: usize,
}

/// The table for people: a line on the counts, then per group `#N  COUNT ×
/// SIGNATURE — TELLING`, its first 3 names (and how many more), the error
/// verbatim when it differs from its signature, and the command that
/// retries that group. `groups` are numbered from `first`; `dir` is the
/// experiment as the user named it (shell-quoted here); `width`, a
/// terminal's, cuts every line but the retry command (which is copied).
pub fn table(groups: &[Group], first: usize, totals: Totals, dir: &str, width: Option<usize>) -> String {
    let mut out = String::new();
    let Totals { failed, all, groups: kinds } = totals;
    let kinds = if kinds == 1 { "1 kind of error".to_string() } else { format!("{kinds} kinds of error") };
    let _ = writeln!(out, "{failed} of {all} configs failed, {kinds}:");
    let count_width = groups.iter().map(|g| g.names.len().to_string().len()).max().unwrap_or(1);
    let number_width = (first + groups.len().saturating_sub(1)).to_string().len() + 1;
    let indent = " ".repeat(number_width + 2);
    for (i, group) in groups.iter().enumerate() {
        let number = first + i;
        let count = group.names.len();
        let lead = format!("{:<number_width$}  {count:>count_width$} × ", format!("#{number}"));
        let telling = group.telling();
        let tail = if telling.is_empty() { String::new() } else { format!(" — {telling}") };
        let signature = printable(&group.signature);
        let signature = match width {
            Some(width) => {
                let taken = console::measure_text_width(&lead) + console::measure_text_width(&tail);
                shorten(&signature, width.saturating_sub(taken))
            }
            None => signature,
        };
        let headline = format!(
            "{}{signature}{}",
            color::failed().apply_to(&lead),
            color::Style::new().bold().apply_to(&tail)
        );
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{}", cut(&headline, width));
        let names = first_few(group.names.iter().cloned(), 3);
        let _ = writeln!(out, "{}", cut(&format!("{indent}{names}"), width));
        if group.example != group.signature {
            let line = format!("{indent}{} {}", color::faint().apply_to("e.g."), printable(&group.example));
            let _ = writeln!(out, "{}", cut(&line, width));
        }
        let _ = writeln!(out, "{indent}{} {}", color::faint().apply_to("retry:"), retry_command(dir, number));
    }
    out
}

/// The shell line that retries exactly group `number` of the experiment
/// `dir` (as the user named it).
pub fn retry_command(dir: &str, number: usize) -> String {
    let dir = crate::template::shell_quote(dir);
    format!("exp-status {dir} --failures --group {number} --names | exp-clean {dir} --names - --reset")
}

/// `text` on one line, without control characters (an error written by
/// hand, or by an older exp, may hold some): each one a space.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// `text` in at most `room` characters (8 at least): cut, its trailing
/// blanks dropped, then ` …`.
fn shorten(text: &str, room: usize) -> String {
    let room = room.max(8);
    if text.chars().count() <= room {
        return text.to_string();
    }
    let kept: String = text.chars().take(room - 2).collect();
    format!("{} …", kept.trim_end())
}

/// `line` cut to `width` columns, with an ellipsis where it was cut
/// (console cuts a line of exactly `width` too: only a longer one is cut).
fn cut(line: &str, width: Option<usize>) -> String {
    match width {
        Some(width) if width > 1 && console::measure_text_width(line) > width => {
            console::truncate_str(line, width, "…").into_owned()
        }
        _ => line.to_string(),
    }
}

/// `--failures --names`: every name, a blank line between groups.
pub fn names(groups: &[Group]) -> String {
    let mut out = String::new();
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for name in &group.names {
            out.push_str(name);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests;
