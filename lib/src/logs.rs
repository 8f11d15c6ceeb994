//! `exp-status --log NAME`: a config's stdout and stderr, each headed, of
//! its latest attempt or an earlier one; `--follow` follows a running
//! config's logs as they grow, until it ends.

use crate::error::{Error, Result};
use crate::model::Status;
use crate::store::config_files::open_regular;
use crate::store::Store;
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
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
    let paths: Vec<PathBuf> = [files.stdout(), files.stderr()]
        .into_iter()
        .map(|path| if attempt < latest { files.of_attempt(&path, attempt) } else { path })
        .collect();
    let mut logs: Vec<Log> = paths.into_iter().map(Log::new).collect();
    for log in &mut logs {
        writeln!(out, "==> {} <==", log.path.display())?;
        if !log.copy_new(out)? {
            writeln!(out, "(none)")?;
        }
    }
    out.flush()?;
    let following = follow && attempt == latest && config.status == Status::Running;
    if !following {
        return Ok(());
    }
    let mut last_shown = logs.len() - 1;
    loop {
        std::thread::sleep(FOLLOW_POLL);
        let lock = store.lock_shared()?;
        store.refresh(&lock, &mut experiment, &mut cursor)?;
        drop(lock);
        let still = match experiment.configs.get(name) {
            Some(entry) => entry.status() == Status::Running && entry.read()?.attempts == latest,
            None => false,
        };
        for (i, log) in logs.iter_mut().enumerate() {
            if log.has_new() {
                if i != last_shown {
                    writeln!(out, "\n==> {} <==", log.path.display())?;
                    last_shown = i;
                }
                log.copy_new(out)?;
            }
        }
        out.flush()?;
        if !still {
            return Ok(());
        }
    }
}

/// One log file and how much of it was printed.
struct Log {
    path: PathBuf,
    file: Option<File>,
    printed: u64,
}

impl Log {
    fn new(path: PathBuf) -> Log {
        Log { path, file: None, printed: 0 }
    }

    fn open(&mut self) -> Option<&mut File> {
        if self.file.is_none() {
            self.file = open_regular(&self.path);
        }
        self.file.as_mut()
    }

    fn has_new(&mut self) -> bool {
        let printed = self.printed;
        self.open().and_then(|f| f.metadata().ok()).is_some_and(|m| m.len() > printed)
    }

    /// Copy what was written since last time; whether the file exists.
    fn copy_new(&mut self, out: &mut impl Write) -> Result<bool> {
        let path = self.path.clone();
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
