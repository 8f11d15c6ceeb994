//! The filesystem's own clock: the time by whatever stamps the files of a
//! folder (this kernel, or a network filesystem's server), read as the
//! mtime of a file made there now. Hosts that share a filesystem need not
//! share a clock, but they share its stamps: a heartbeat's age measured
//! against them holds whatever the hosts' clocks say.

use crate::store::atomic::no_follow;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The names of the files made to read the clock (never a registration).
const PREFIX: &str = ".clock-";

/// Now, by the clock that stamps files in `dir`: the mtime of a new file
/// (unique to this reader), removed at once. The file is made, not
/// touched: its first stamp is the kernel's (or the file server's) own,
/// which no shift of this process's clock (e.g. libfaketime) reaches.
pub fn now_in(dir: &Path) -> std::io::Result<SystemTime> {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let path = dir.join(format!("{PREFIX}{}-{}", std::process::id(), &unique[..12]));
    let file = no_follow().write(true).create_new(true).open(&path)?;
    let stamped = file.metadata().and_then(|meta| meta.modified());
    drop(file);
    let _ = fs::remove_file(&path);
    stamped
}

/// Remove clock files that a reader killed at the wrong instant left in
/// `dir` (older than a minute at `now`, by the same clock).
pub fn remove_left_over(dir: &Path, now: SystemTime) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let old =
            entry.metadata().and_then(|meta| meta.modified()).ok().and_then(|m| now.duration_since(m).ok());
        if old.is_some_and(|age| age > Duration::from_secs(60)) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_file_is_gone_once_read() {
        let tmp = tempfile::tempdir().unwrap();
        let before = SystemTime::now() - Duration::from_secs(1);
        let now = now_in(tmp.path()).unwrap();
        assert!(now >= before, "{now:?} < {before:?}");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn left_over_clock_files_are_removed_when_old() {
        let tmp = tempfile::tempdir().unwrap();
        let (old, new, other) =
            (tmp.path().join(".clock-1-a"), tmp.path().join(".clock-2-b"), tmp.path().join("r.json"));
        for path in [&old, &new, &other] {
            fs::write(path, "").unwrap();
        }
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        for path in [&old, &other] {
            fs::File::options().write(true).open(path).unwrap().set_modified(hour_ago).unwrap();
        }
        remove_left_over(tmp.path(), SystemTime::now());
        assert!(!old.exists() && new.exists() && other.exists());
    }

    #[test]
    fn a_folder_that_cannot_be_written_is_an_error() {
        assert!(now_in(Path::new("/proc")).is_err());
    }
}
