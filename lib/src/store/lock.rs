//! The experiment's advisory lock (`.exp/lock`): shared for readers,
//! exclusive for writers, held only for short critical sections. The lock
//! file is opened once per process and reused, since a runner locks twice
//! per config.

use crate::error::{Error, Result};
use crate::store::atomic::{no_follow, regular};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// A held lock; released when dropped. Without a file inside, we read a
/// directory we may not write (e.g. a read-only copy), without a lock.
#[derive(Debug)]
pub struct Lock {
    file: Option<Arc<File>>,
    exclusive: bool,
}

impl Lock {
    pub fn exclusive(file: &Arc<File>, path: &Path) -> Result<Lock> {
        file.lock().map_err(|err| Error::io("cannot lock", path, err))?;
        Ok(Lock { file: Some(file.clone()), exclusive: true })
    }

    pub fn shared(file: Option<&Arc<File>>, path: &Path) -> Result<Lock> {
        match file {
            Some(file) => {
                file.lock_shared().map_err(|err| Error::io("cannot lock", path, err))?;
                Ok(Lock { file: Some(file.clone()), exclusive: false })
            }
            None => Ok(Lock { file: None, exclusive: false }),
        }
    }

    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            let _ = file.unlock();
        }
    }
}

/// How the lock file could be opened.
pub enum Opened {
    ReadWrite(File),
    /// In a directory we may not write to: enough for a shared lock.
    ReadOnly(File),
    /// It does not exist and cannot be made: read without a lock.
    Absent,
}

/// Open (creating) the lock file for writing, or read-only when `write` is
/// not required and we may not write.
pub fn open(path: &Path, write: bool) -> Result<Opened> {
    let read_write = no_follow().read(true).write(true).create(true).truncate(false).open(path);
    match read_write {
        Ok(file) => Ok(Opened::ReadWrite(regular(file, path)?)),
        Err(err) if write => Err(Error::io("cannot open lock", path, err)),
        Err(_) => match no_follow().read(true).open(path) {
            Ok(file) => Ok(Opened::ReadOnly(regular(file, path)?)),
            Err(_) if !path.exists() => Ok(Opened::Absent),
            Err(err) => Err(Error::io("cannot open lock", path, err)),
        },
    }
}
