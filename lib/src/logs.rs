//! `exp-status --log NAME`: a config's stdout and stderr, each headed, of
//! its latest attempt or an earlier one; `--follow` follows a running
//! config's logs as they grow, until it ends.

use crate::error::{Error, Result};
use crate::model::{Experiment, Status};
use crate::store::config_files::{ConfigFiles, STDERR, STDOUT};
use crate::store::{Cursor, Store};
use std::fs::File;
use std::io::{Read, Write};
use std::time::Duration;

/// How often a followed log is looked at.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Print the logs of config `name`.
pub fn print(
    store: &mut Store,
    name: &str,
    attempt: Option<u32>,
    follow: bool,
    out: &mut impl Write,
) -> Result<()> {
    let (mut experiment, mut cursor) = store.read()?;
    let config = experiment
        .configs
        .get(name)
        .ok_or_else(|| {
            Error::usage(format!("--log: no config named {name:?} (exp-status --names lists them)"))
        })?
        .read()?
        .into_owned();
    let latest = config.attempts;
    if latest == 0 {
        return Err(Error::usage(format!("--log: {name} has not run yet: it has no logs")));
    }
    let attempt = attempt.unwrap_or(latest);
    if attempt == 0 || attempt > latest {
        return Err(Error::usage(format!(
            "--attempt {attempt}: {name} has {latest} attempt(s) (the first is 1)"
        )));
    }
    let files = store.config_files(name);
    let mut logs: Vec<Log> = match attempt < latest {
        true => [STDOUT, STDERR].map(|log| Log::new(&files, ConfigFiles::of_attempt(log, attempt))).into(),
        false => [STDOUT, STDERR].map(|log| Log::new(&files, log.to_string())).into(),
    };
    let mut current = attempt == latest;
    if current {
        current = open_latest(store, &mut experiment, &mut cursor, name, latest, &mut logs)?;
    }
    for log in &mut logs {
        writeln!(out, "==> {} <==", log.path().display())?;
        if !log.copy_new(out)? {
            writeln!(out, "(none)")?;
        }
    }
    out.flush()?;
    if !(follow && current && config.status == Status::Running) {
        return Ok(());
    }
    let mut last_shown = logs.len() - 1;
    loop {
        std::thread::sleep(FOLLOW_POLL);
        let current = open_latest(store, &mut experiment, &mut cursor, name, latest, &mut logs)?;
        let running = experiment.configs.get(name).is_some_and(|entry| entry.status() == Status::Running);
        for (i, log) in logs.iter_mut().enumerate() {
            if log.has_new() {
                if i != last_shown {
                    writeln!(out, "\n==> {} <==", log.path().display())?;
                    last_shown = i;
                }
                log.copy_new(out)?;
            }
        }
        out.flush()?;
        if !(current && running) {
            return Ok(());
        }
    }
}

/// Open the logs of attempt `latest` not open yet, by their plain names,
/// and tell whether it is still the config's latest attempt. A runner
/// claims the next attempt before it moves these logs to their numbered
/// names (`stdout.N.log`) and creates new ones: a file opened before that
/// claim is this attempt's; one opened after may be the next one's, so once
/// the config has moved on, logs opened now are looked for under the
/// numbered names instead.
fn open_latest(
    store: &mut Store,
    experiment: &mut Experiment,
    cursor: &mut Cursor,
    name: &str,
    latest: u32,
    logs: &mut [Log],
) -> Result<bool> {
    let unopened: Vec<usize> = (0..logs.len()).filter(|&i| logs[i].file.is_none()).collect();
    for &i in &unopened {
        let _ = logs[i].open();
    }
    let lock = store.lock_shared()?;
    store.refresh(&lock, experiment, cursor)?;
    drop(lock);
    let attempts = experiment.configs.get(name).map(|entry| entry.read().map(|c| c.attempts)).transpose()?;
    if attempts == Some(latest) {
        return Ok(true);
    }
    let files = store.config_files(name);
    for i in unopened {
        let moved = ConfigFiles::of_attempt(&logs[i].name, latest);
        // The move follows the claim at once; wait a moment for it.
        for _ in 0..20 {
            if files.folder().is_some_and(|folder| folder.has(&moved)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        logs[i] = Log::new(&files, moved);
    }
    Ok(false)
}

/// One log file of a config's folder and how much of it was printed.
struct Log {
    files: ConfigFiles,
    name: String,
    file: Option<File>,
    printed: u64,
}

impl Log {
    fn new(files: &ConfigFiles, name: String) -> Log {
        Log { files: files.clone(), name, file: None, printed: 0 }
    }

    fn path(&self) -> std::path::PathBuf {
        self.files.dir.join(&self.name)
    }

    fn open(&mut self) -> Option<&mut File> {
        if self.file.is_none() {
            self.file = self.files.open_file(&self.name);
        }
        self.file.as_mut()
    }

    fn has_new(&mut self) -> bool {
        let printed = self.printed;
        self.open().and_then(|f| f.metadata().ok()).is_some_and(|m| m.len() > printed)
    }

    /// Copy what was written since last time; whether the file exists.
    fn copy_new(&mut self, out: &mut impl Write) -> Result<bool> {
        let path = self.path();
        let Some(file) = self.open() else {
            return Ok(false);
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|err| Error::io("cannot read", &path, err))?;
        out.write_all(&bytes)?;
        self.printed += bytes.len() as u64;
        Ok(true)
    }
}
