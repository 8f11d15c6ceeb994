//! One config's folder (`configs/NAME/`): the names of its files, and
//! reading the files its command controls without trusting them: never
//! blocking (a FIFO planted as `result.json` must not hang a tool), only
//! regular files, never through a symlink, and never more than a bound.

use crate::report::warn_once;
use serde_json::Value;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest result file read, in bytes.
pub const MAX_RESULT_BYTES: u64 = 64 << 20;

/// The paths of one config's folder.
#[derive(Debug, Clone)]
pub struct ConfigFiles {
    pub dir: PathBuf,
}

impl ConfigFiles {
    pub fn stdout(&self) -> PathBuf {
        self.dir.join("stdout.log")
    }
    pub fn stderr(&self) -> PathBuf {
        self.dir.join("stderr.log")
    }
    pub fn result(&self) -> PathBuf {
        self.dir.join("result.json")
    }
    /// Where Delphyne's commands leave their result.
    pub fn result_yaml(&self) -> PathBuf {
        self.dir.join("result.yaml")
    }
    pub fn cache(&self) -> PathBuf {
        self.dir.join("cache")
    }
    pub fn status_file(&self) -> PathBuf {
        self.dir.join("status.txt")
    }
    pub fn params(&self) -> PathBuf {
        self.dir.join("params.json")
    }
    pub fn command(&self) -> PathBuf {
        self.dir.join("command.json")
    }
    /// Where a replay's result goes, so the recorded one stays as it was.
    pub fn replay_result(&self) -> PathBuf {
        self.dir.join("result.replay.json")
    }

    /// A file of an earlier attempt: `stdout.log` of attempt N is kept as
    /// `stdout.N.log` (likewise `stderr.N.log`, `result.N.json`).
    pub fn of_attempt(&self, file: &Path, attempt: u32) -> PathBuf {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, ""));
        self.dir.join(format!("{stem}.{attempt}.{ext}"))
    }

    /// The last non-empty line the command printed, in `stdout.log` or
    /// `stderr.log`, whichever was written last, made fit for a terminal
    /// line. Asked for several times a second while a run is watched: it
    /// reads a few KiB at most, never blocks, and passes over a log that is
    /// not a regular file without a warning.
    pub fn last_output_line(&self) -> Option<String> {
        let newest = [self.stdout(), self.stderr()]
            .into_iter()
            .filter_map(|path| {
                let meta = std::fs::symlink_metadata(&path).ok()?;
                (meta.is_file() && meta.len() > 0).then(|| (meta.modified().ok(), path))
            })
            .max_by_key(|(modified, _)| *modified)?;
        let text = read_tail(&newest.1, 4096)?;
        text.lines().rev().map(visible).find(|line| !line.is_empty())
    }

    /// The config's result: `result.json`, else Delphyne's `result.yaml`;
    /// None when there is none or it is not an object (with a warning).
    pub fn read_result(&self) -> Option<Value> {
        let (path, value) = match read_regular(&self.result(), MAX_RESULT_BYTES) {
            Some(bytes) => {
                let path = self.result();
                (path, serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()))
            }
            None => {
                let bytes = read_regular(&self.result_yaml(), MAX_RESULT_BYTES)?;
                (self.result_yaml(), serde_yaml::from_slice::<Value>(&bytes).map_err(|e| e.to_string()))
            }
        };
        match value {
            Ok(value @ Value::Object(_)) => Some(value),
            Ok(_) => {
                warn_once(format!("{}: not a JSON object; ignored", path.display()));
                None
            }
            Err(err) => {
                warn_once(format!("{}: unreadable ({err}); ignored", path.display()));
                None
            }
        }
    }
}

/// Open a file a command controls: without blocking and without following
/// a symlink; None unless it is a regular file.
pub fn open_regular(path: &Path) -> Option<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let kind = file.metadata().ok()?.file_type();
    if kind.is_file() {
        return Some(file);
    }
    if kind.is_fifo() || kind.is_socket() || kind.is_char_device() || kind.is_block_device() {
        warn_once(format!("{}: not a regular file; ignored", path.display()));
    }
    None
}

/// The whole of a regular file, if it is at most `max` bytes (else a warning).
pub fn read_regular(path: &Path, max: u64) -> Option<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata().ok()?.len();
    if len > max {
        warn_once(format!("{}: larger than {} MiB; ignored", path.display(), max >> 20));
        return None;
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// At most the last `max` bytes of a regular file, as text (lossy UTF-8),
/// starting at a line boundary when it had to skip and there is one (else
/// with the end of a line longer than `max`, as a display wants it).
pub fn read_tail(path: &Path, max: u64) -> Option<String> {
    tail(path, max, false)
}

/// Like [`read_tail`], but whole lines only: a window that holds no line
/// start gives nothing, never the cut-off end of a longer line.
pub fn read_tail_lines(path: &Path, max: u64) -> Option<String> {
    tail(path, max, true)
}

fn tail(path: &Path, max: u64, whole_lines: bool) -> Option<String> {
    let mut file = open_regular(path)?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).ok()?;
    if start > 0 {
        let no_line_start = if whole_lines { bytes.len() } else { 0 };
        let skip = bytes.iter().position(|&b| b == b'\n').map_or(no_line_start, |i| i + 1);
        bytes.drain(..skip);
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The last `n` lines of a regular file.
pub fn last_lines(path: &Path, n: usize) -> Option<Vec<String>> {
    let text = read_tail(path, 64 * 1024)?;
    let lines: Vec<&str> = text.lines().collect();
    Some(lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect())
}

/// A line as a terminal would leave it, printable only: what follows its
/// last carriage return (a progress meter redraws itself so), without
/// escape sequences or control characters.
fn visible(line: &str) -> String {
    let plain = console::strip_ansi_codes(line);
    let last = plain.split('\r').rev().find(|part| !part.trim().is_empty()).unwrap_or("");
    let shown: String =
        last.chars().map(|c| if c == '\t' { ' ' } else { c }).filter(|c| !c.is_control()).collect();
    shown.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_not_read_and_does_not_block() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("result.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(read_regular(&fifo, 100).is_none());
        assert!(read_tail(&fifo, 100).is_none());
    }

    #[test]
    fn tails_start_at_a_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log");
        std::fs::write(&path, "aaaa\nbb\ncc\n").unwrap();
        assert_eq!(read_tail(&path, 7).unwrap(), "bb\ncc\n");
        // A window inside one long line: its end for a display, nothing
        // for whole lines.
        let long = tmp.path().join("long");
        std::fs::write(&long, "aaaaaaaaaa{\"x\":1}").unwrap();
        assert_eq!(read_tail(&long, 7).unwrap(), "{\"x\":1}");
        assert_eq!(read_tail_lines(&long, 7).unwrap(), "");
        assert_eq!(last_lines(&path, 2).unwrap(), ["bb", "cc"]);
        let files = ConfigFiles { dir: tmp.path().to_path_buf() };
        assert_eq!(files.of_attempt(&files.stdout(), 2), tmp.path().join("stdout.2.log"));
    }

    #[test]
    fn the_last_output_line_is_the_newest_logs_printable_last_line() {
        let tmp = tempfile::tempdir().unwrap();
        let files = ConfigFiles { dir: tmp.path().to_path_buf() };
        assert_eq!(files.last_output_line(), None);
        std::fs::write(files.stderr(), "warming up\n").unwrap();
        std::fs::write(files.stdout(), "").unwrap();
        assert_eq!(files.last_output_line().as_deref(), Some("warming up"), "an empty log is passed over");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(files.stdout(), "step 1\n\x1b[1mstep\t2\x1b[0m\n \n").unwrap();
        assert_eq!(files.last_output_line().as_deref(), Some("step 2"));
        std::fs::write(files.stdout(), " 10%|#   \r 20%|##  \r").unwrap();
        assert_eq!(files.last_output_line().as_deref(), Some("20%|##"));
        std::fs::remove_file(files.stdout()).unwrap();
        nix::unistd::mkfifo(&files.stdout(), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(files.last_output_line().as_deref(), Some("warming up"), "a FIFO is passed over");
    }
}
