//! The experiment model: what `experiment.yaml` holds, a superset of Delphyne's.

use crate::error::{Error, Result as ExpResult};
use crate::time::Timestamp;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::str::FromStr;

/// The schema version this build writes; a newer one is refused (exit 3).
/// Delphyne's files carry none and read as version 0. Version 3 has the
/// same layout as 2, but its journal's lines carry checksums: the bump makes
/// an earlier release refuse the experiment rather than append lines
/// without them, which this one would take for damage.
pub const SCHEMA_VERSION: u32 = 3;

/// A config's parameters: a JSON object, key order as given.
pub type Params = Map<String, Value>;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Experiment {
    #[serde(default)]
    pub schema_version: u32,
    /// A unique id, also in the journal's header, so a journal is never
    /// applied to another experiment. Delphyne's files have none until the
    /// first rewrite.
    #[serde(default)]
    pub id: Option<String>,
    /// Bumped by every fold; the journal names the epoch it extends.
    #[serde(default)]
    pub journal_epoch: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub command: Option<Command>,
    #[serde(default)]
    pub naming: Option<String>,
    #[serde(default)]
    pub defaults: Params,
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Where commands run: the directory `exp-init` ran in, or its
    /// `--workdir`. Older experiments have none: commands run where
    /// `exp-run` runs.
    #[serde(default)]
    pub workdir: Option<std::path::PathBuf>,
    #[serde(default, deserialize_with = "unique_configs")]
    pub configs: IndexMap<String, Entry>,
    /// Keys this exp does not know (a user's or another tool's notes),
    /// kept as they are through every rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// Only some configs were read (a run's window of a big experiment):
    /// such a state is never written back.
    #[serde(skip)]
    pub partial: bool,
}

/// The key of `exp-init --require-result` among the experiment's top-level
/// keys (kept in `extra`, so older versions keep it through rewrites).
const REQUIRE_RESULT: &str = "require_result";

impl Experiment {
    /// `exp-init --require-result`: a config that exits 0 without a result
    /// is failed.
    pub fn require_result(&self) -> bool {
        self.extra.get(REQUIRE_RESULT) == Some(&Value::Bool(true))
    }

    pub fn set_require_result(&mut self, on: bool) {
        match on {
            true => self.extra.insert(REQUIRE_RESULT.to_string(), Value::Bool(true)),
            false => self.extra.shift_remove(REQUIRE_RESULT),
        };
    }
}

/// The command template: an argv run without a shell (a YAML list), or a
/// `sh -c` string (a YAML string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Command {
    Argv(Vec<String>),
    Shell(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Todo,
    Running,
    Done,
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Todo, Status::Running, Status::Done, Status::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Todo => "todo",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown status {s:?} (expected todo, running, done or failed)"))
    }
}

/// Configs per status, plus the total: `{"todo":N,"running":N,"done":N,"failed":N,"total":N}`.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub todo: usize,
    pub running: usize,
    pub done: usize,
    pub failed: usize,
    pub total: usize,
}

impl Counts {
    pub fn add(&mut self, status: Status) {
        *self.get_mut(status) += 1;
        self.total += 1;
    }

    pub fn get(&self, status: Status) -> usize {
        match status {
            Status::Todo => self.todo,
            Status::Running => self.running,
            Status::Done => self.done,
            Status::Failed => self.failed,
        }
    }

    pub fn get_mut(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Todo => &mut self.todo,
            Status::Running => &mut self.running,
            Status::Done => &mut self.done,
            Status::Failed => &mut self.failed,
        }
    }
}

/// How one run of a config ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Done,
    Failed {
        exit_code: Option<i32>,
        signal: Option<String>,
        error: String,
    },
    /// Stopped because the runner was told to stop: back to `todo`.
    Interrupted,
    /// Never launched (its folder could not be prepared): back to `todo`,
    /// the attempt not counted.
    NotStarted,
}

/// One config: its params as given (defaults are merged when used) and its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub status: Status,
    #[serde(default)]
    pub params: Params,
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    #[serde(default)]
    pub end_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interruption_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The runner holding this config while it is `running`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<Claim>,
    /// The host its latest attempt ran on: set when it is claimed, kept
    /// when it ends, cleared by a reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The git commit of the workdir when its latest attempt started (see
    /// `provenance.json`): set when it is claimed, kept when it ends,
    /// cleared by a reset. Records of earlier releases have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// What its last attempt's ending deserves a look for, short of an
    /// error: a stdout line that looks like a result but is not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Keys this exp does not know, kept through every rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Config {
    pub fn new(params: Params) -> Config {
        Config {
            params,
            status: Status::Todo,
            start_time: None,
            end_time: None,
            interruption_time: None,
            attempts: 0,
            exit_code: None,
            signal: None,
            error: None,
            runner: None,
            host: None,
            commit: None,
            warning: None,
            extra: Map::new(),
        }
    }

    /// Claimed by a runner for a new attempt: running, the attempt
    /// counted, the last ending forgotten, the host and the commit it runs
    /// (None outside git) noted. Returns the attempt (1-based).
    pub fn claim(&mut self, claim: Claim, commit: Option<String>, now: Timestamp) -> u32 {
        self.status = Status::Running;
        self.attempts += 1;
        self.start_time = Some(now);
        self.end_time = None;
        self.exit_code = None;
        self.signal = None;
        self.error = None;
        self.warning = None;
        self.host = Some(claim.host.clone());
        self.commit = commit;
        self.runner = Some(claim);
        self.attempts
    }

    /// Its attempt ended (`warning`: what the ending deserves a look for):
    /// done or failed, interrupted (back to todo), or never started (back
    /// to todo, the attempt not counted).
    pub fn finish(&mut self, ending: &Ending, now: Timestamp, warning: Option<String>) {
        self.runner = None;
        self.warning = warning;
        match ending {
            Ending::Done => {
                self.status = Status::Done;
                self.end_time = Some(now);
                self.exit_code = Some(0);
            }
            Ending::Failed { exit_code, signal, error } => {
                self.status = Status::Failed;
                self.end_time = Some(now);
                self.exit_code = *exit_code;
                self.signal = signal.clone();
                self.error = Some(error.clone());
            }
            Ending::Interrupted => {
                self.interrupt(now);
                self.end_time = None;
            }
            Ending::NotStarted => {
                self.status = Status::Todo;
                self.attempts = self.attempts.saturating_sub(1);
                self.start_time = None;
            }
        }
    }

    /// Stopped while running, or its runner is gone: back to todo, with
    /// when it was interrupted; its start and attempts kept.
    pub fn interrupt(&mut self, now: Timestamp) {
        self.status = Status::Todo;
        self.interruption_time = Some(now);
        self.runner = None;
    }

    /// Back to todo by a user's wish (`exp-clean --reset`, `--retry-failed`):
    /// the last ending forgotten, the attempts kept (so the logs of earlier
    /// attempts keep their numbers).
    pub fn reset(&mut self) {
        self.status = Status::Todo;
        self.end_time = None;
        self.exit_code = None;
        self.signal = None;
        self.error = None;
        self.runner = None;
        self.host = None;
        self.commit = None;
    }

    /// Whether it ever started: only then is `configs/NAME/` its own (its
    /// first start moves aside a folder left by an earlier config of its
    /// name). Delphyne's records keep no attempts, but their times.
    pub fn has_run(&self) -> bool {
        self.attempts > 0
            || self.start_time.is_some()
            || matches!(self.status, Status::Running | Status::Done | Status::Failed)
    }

    /// Seconds it ran, or has been running so far; None if it never started.
    pub fn duration(&self, now: &Timestamp) -> Option<f64> {
        let start = self.start_time.as_ref()?;
        match (&self.end_time, self.status) {
            (Some(end), _) if end >= start => Some(start.seconds_until(end)),
            (_, Status::Running) => Some(start.seconds_until(now)),
            _ => None,
        }
    }
}

/// Who runs a config: enough to tell later whether that runner is still alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// The runner's worker slot running it (`EXP_WORKER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<usize>,
    /// The device tokens it holds (`exp-run --devices`), comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `configs:` as a map, null read as empty; a name given twice (a
/// hand-edited file) is an error, never one config silently dropped.
fn unique_configs<'de, D>(deserializer: D) -> Result<IndexMap<String, Entry>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = IndexMap<String, Entry>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of configs")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(IndexMap::new())
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(IndexMap::new())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut configs = IndexMap::new();
            while let Some((name, config)) = map.next_entry::<String, Config>()? {
                if configs.contains_key(&name) {
                    return Err(serde::de::Error::custom(format!("config {name:?} is given twice")));
                }
                configs.insert(name, Entry::new(config));
            }
            Ok(configs)
        }
    }
    deserializer.deserialize_any(Unique)
}

/// One config as the state holds it: parsed, or still the JSON text it was
/// read as, parsed on first use. Opening an experiment of a million configs
/// then costs a scan of their lines, not a parse of every field of each.
pub struct Entry {
    /// The status, as scanned from the text (while it is not parsed).
    status: Status,
    text: Option<Text>,
    parsed: OnceCell<Box<Config>>,
}

/// A config's JSON text: a range of one shared copy of the state file, so a
/// million configs cost one buffer rather than a million small ones.
#[derive(Clone)]
pub struct Text {
    buffer: std::sync::Arc<String>,
    range: std::ops::Range<usize>,
}

impl Text {
    pub fn new(buffer: std::sync::Arc<String>, range: std::ops::Range<usize>) -> Text {
        Text { buffer, range }
    }

    pub fn as_str(&self) -> &str {
        &self.buffer[self.range.clone()]
    }
}

impl Entry {
    pub fn new(config: Config) -> Entry {
        let status = config.status;
        Entry { status, text: None, parsed: OnceCell::from(Box::new(config)) }
    }

    /// A config known by its status and its JSON text, parsed when needed.
    pub fn from_text(status: Status, text: Text) -> Entry {
        Entry { status, text: Some(text), parsed: OnceCell::new() }
    }

    pub fn status(&self) -> Status {
        self.parsed.get().map_or(self.status, |config| config.status)
    }

    /// The whole config, parsed once and kept.
    pub fn get(&self) -> ExpResult<&Config> {
        if let Some(config) = self.parsed.get() {
            return Ok(config);
        }
        let config = self.parse()?;
        Ok(self.parsed.get_or_init(|| Box::new(config)))
    }

    /// The whole config, to change it (its text is dropped).
    pub fn get_mut(&mut self) -> ExpResult<&mut Config> {
        self.get()?;
        self.text = None;
        Ok(self.parsed.get_mut().expect("just parsed"))
    }

    /// The whole config without keeping it parsed (for one pass over many).
    pub fn read(&self) -> ExpResult<Cow<'_, Config>> {
        match self.parsed.get() {
            Some(config) => Ok(Cow::Borrowed(config)),
            None => self.parse().map(Cow::Owned),
        }
    }

    /// The JSON text it was read as, if it is unchanged since.
    pub fn text(&self) -> Option<&str> {
        self.text.as_ref().map(Text::as_str)
    }

    fn parse(&self) -> ExpResult<Config> {
        let text = self.text().unwrap_or("null");
        let config: Config = serde_json::from_str(text)
            .map_err(|err| Error::state(format!("experiment.yaml: a config's line is corrupt: {err}")))?;
        if config.status != self.status {
            return Err(Error::state(
                "experiment.yaml: a config's line is corrupt: its status reads two ways",
            ));
        }
        Ok(config)
    }
}

impl Clone for Entry {
    fn clone(&self) -> Entry {
        Entry { status: self.status, text: self.text.clone(), parsed: self.parsed.clone() }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.parsed.get(), &self.text) {
            (Some(config), _) => config.fmt(f),
            (None, _) => write!(f, "Entry({:?}, {:?})", self.status, self.text()),
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        match (self.read(), other.read()) {
            (Ok(a), Ok(b)) => a == b,
            _ => self.text() == other.text(),
        }
    }
}

impl From<Config> for Entry {
    fn from(config: Config) -> Entry {
        Entry::new(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> Claim {
        Claim { id: "h-1-abc".into(), host: "h".into(), pid: 1, worker: Some(0), devices: None }
    }

    #[test]
    fn a_config_goes_through_its_life_by_its_own_verbs() {
        let mut config = Config::new(Params::new());
        let now = Timestamp::now();
        assert_eq!(config.claim(claim(), Some("abc".into()), now), 1);
        assert_eq!(config.commit.as_deref(), Some("abc"));
        assert_eq!((config.status, config.host.as_deref()), (Status::Running, Some("h")));
        let failed = Ending::Failed { exit_code: Some(2), signal: None, error: "exit code 2".into() };
        config.finish(&failed, now, Some("a look".into()));
        assert_eq!(
            (config.status, config.exit_code, config.runner.is_none()),
            (Status::Failed, Some(2), true)
        );
        assert_eq!(config.warning.as_deref(), Some("a look"));
        assert_eq!(config.commit.as_deref(), Some("abc"), "kept when it ends");
        config.reset();
        assert_eq!((config.status, config.error.as_deref(), config.attempts), (Status::Todo, None, 1));
        assert_eq!(config.commit, None);

        assert_eq!(config.claim(claim(), None, now), 2);
        assert!(config.error.is_none() && config.warning.is_none() && config.end_time.is_none());
        config.finish(&Ending::Interrupted, now, None);
        assert_eq!((config.status, config.interruption_time, config.attempts), (Status::Todo, Some(now), 2));

        assert_eq!(config.claim(claim(), None, now), 3);
        config.finish(&Ending::NotStarted, now, None);
        assert_eq!((config.status, config.attempts, config.start_time), (Status::Todo, 2, None));

        config.claim(claim(), None, now);
        config.interrupt(now);
        assert_eq!((config.status, config.runner.is_none()), (Status::Todo, true));
        config.claim(claim(), None, now);
        config.finish(&Ending::Done, now, None);
        assert_eq!((config.status, config.exit_code, config.end_time), (Status::Done, Some(0), Some(now)));
        assert!(config.has_run());
    }

    #[test]
    fn counts_add_up() {
        let mut counts = Counts::default();
        for status in [Status::Todo, Status::Done, Status::Done, Status::Failed] {
            counts.add(status);
        }
        assert_eq!((counts.todo, counts.done, counts.failed, counts.total), (1, 2, 1, 4));
        assert_eq!(counts.get(Status::Running), 0);
    }
}
