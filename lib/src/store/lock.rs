//! The experiment's advisory lock (`.exp/lock`): shared for readers,
//! exclusive for writers, held only for short critical sections.

use crate::error::{Error, Result};
use crate::store::atomic::no_follow;
use std::fs::File;
use std::path::Path;

/// A held lock; released when dropped. `None` inside means we read a
/// directory we may not write (e.g. a read-only copy), without a lock.
#[derive(Debug)]
pub struct Lock {
    _file: Option<File>,
    exclusive: bool,
}

impl Lock {
    pub fn exclusive(path: &Path) -> Result<Lock> {
        let file = open(path).map_err(|err| Error::io("cannot open lock", path, err))?;
        file.lock()
            .map_err(|err| Error::io("cannot lock", path, err))?;
        Ok(Lock {
            _file: Some(file),
            exclusive: true,
        })
    }

    /// Like `exclusive`, but gives up at once if another process holds it.
    pub fn try_exclusive(path: &Path) -> Result<Option<Lock>> {
        let file = open(path).map_err(|err| Error::io("cannot open lock", path, err))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock {
                _file: Some(file),
                exclusive: true,
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(err)) => Err(Error::io("cannot lock", path, err)),
        }
    }

    pub fn shared(path: &Path) -> Result<Lock> {
        match open(path) {
            Ok(file) => {
                file.lock_shared()
                    .map_err(|err| Error::io("cannot lock", path, err))?;
                Ok(Lock {
                    _file: Some(file),
                    exclusive: false,
                })
            }
            // A directory we cannot write to has no writers to exclude.
            Err(_) if !path.exists() => Ok(Lock {
                _file: None,
                exclusive: false,
            }),
            Err(err) => Err(Error::io("cannot open lock", path, err)),
        }
    }

    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    no_follow()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}
