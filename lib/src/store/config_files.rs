//! One config's folder (`configs/NAME/`): the names of its files, and
//! reading the files its command controls without trusting them: never
//! blocking (a FIFO planted as `result.json` must not hang a tool), only
//! regular files, never through a symlink at any component inside the
//! experiment (a `configs/NAME` swapped for a symlink is skipped, and said
//! so), and never more than a bound.

use crate::report::warn_once;
use crate::store::folder::{is_symlink_refusal, Folder};
use serde_json::Value;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The largest result file read, in bytes.
pub const MAX_RESULT_BYTES: u64 = 64 << 20;

/// The files of a config's folder, by name.
pub const STDOUT: &str = "stdout.log";
pub const STDERR: &str = "stderr.log";
pub const RESULT: &str = "result.json";
/// Where Delphyne's commands leave their result.
pub const RESULT_YAML: &str = "result.yaml";
/// Where a replay's result goes, so the recorded one stays as it was.
pub const REPLAY_RESULT: &str = "result.replay.json";
/// Where the command appends its metrics, one JSON object a line (`$EXP_METRICS`).
pub const METRICS: &str = "metrics.jsonl";
/// Where a replay's metrics go, so the recorded ones stay as they were.
pub const REPLAY_METRICS: &str = "metrics.replay.jsonl";
pub const STATUS: &str = "status.txt";
pub const PARAMS: &str = "params.json";
pub const COMMAND: &str = "command.json";
/// Where, by whom and from which code the attempt ran (see [`crate::provenance`]).
pub const PROVENANCE: &str = "provenance.json";
pub const CACHE: &str = "cache";

/// The paths of one config's folder.
#[derive(Debug, Clone)]
pub struct ConfigFiles {
    /// `DIR/configs/NAME`, as given to commands and shown to people.
    pub dir: PathBuf,
    experiment: PathBuf,
    name: String,
}

impl ConfigFiles {
    /// The folder of config `name` in the experiment at `experiment`.
    pub fn new(experiment: &Path, name: &str) -> ConfigFiles {
        ConfigFiles {
            dir: experiment.join("configs").join(name),
            experiment: experiment.to_path_buf(),
            name: name.to_string(),
        }
    }

    pub fn stdout(&self) -> PathBuf {
        self.dir.join(STDOUT)
    }
    pub fn stderr(&self) -> PathBuf {
        self.dir.join(STDERR)
    }
    pub fn result(&self) -> PathBuf {
        self.dir.join(RESULT)
    }
    pub fn cache(&self) -> PathBuf {
        self.dir.join(CACHE)
    }
    pub fn status_file(&self) -> PathBuf {
        self.dir.join(STATUS)
    }
    pub fn replay_result(&self) -> PathBuf {
        self.dir.join(REPLAY_RESULT)
    }
    pub fn metrics(&self) -> PathBuf {
        self.dir.join(METRICS)
    }
    pub fn replay_metrics(&self) -> PathBuf {
        self.dir.join(REPLAY_METRICS)
    }

    /// A file of an earlier attempt: `stdout.log` of attempt N is kept as
    /// `stdout.N.log` (likewise `stderr.N.log`, `result.N.json`,
    /// `metrics.N.jsonl`, `provenance.N.json`).
    pub fn of_attempt(file: &str, attempt: u32) -> String {
        let (stem, ext) = file.rsplit_once('.').unwrap_or((file, ""));
        format!("{stem}.{attempt}.{ext}")
    }

    /// The `configs` folder, opened without following a symlink.
    pub fn open_configs(&self) -> io::Result<Folder> {
        Folder::walk(&self.experiment, &["configs"])
    }

    /// The config's folder, opened without following a symlink at any
    /// component inside the experiment, for a writer to judge the error.
    pub fn open(&self) -> io::Result<Folder> {
        self.open_configs()?.sub(&self.name)
    }

    /// The config's folder for reading: None when it has none yet; one that
    /// is a symlink (or not a folder) is skipped with a warning naming it.
    pub fn folder(&self) -> Option<Folder> {
        self.opened(true)
    }

    /// The config's folder for reading, None (and no warning) when it has
    /// none or it is a symlink: for a display that looks many times a second.
    pub fn folder_quietly(&self) -> Option<Folder> {
        self.opened(false)
    }

    fn opened(&self, warn: bool) -> Option<Folder> {
        match self.open() {
            Ok(folder) => Some(folder),
            Err(err) if warn && is_symlink_refusal(&err) => {
                warn_once(format!("{}: {}; skipped", self.dir.display(), refusal(&self.dir)));
                None
            }
            Err(_) => None,
        }
    }

    /// A file of the folder, for reading (see [`open_regular`]).
    pub fn open_file(&self, name: &str) -> Option<File> {
        open_regular(&self.folder()?, name, true)
    }

    /// The whole of a file, if it is at most `max` bytes (else a warning).
    pub fn read(&self, name: &str, max: u64) -> Option<Vec<u8>> {
        read_all(self.open_file(name)?, &self.dir.join(name), max)
    }

    /// At most the last `max` bytes of a file, as text (lossy UTF-8),
    /// starting at a line boundary when it had to skip and there is one
    /// (else with the end of a line longer than `max`, as a display wants it).
    pub fn tail(&self, name: &str, max: u64) -> Option<String> {
        tail(self.open_file(name)?, max, false)
    }

    /// Like [`ConfigFiles::tail`], but whole lines only: a window that holds
    /// no line start gives nothing, never the cut-off end of a longer line.
    pub fn tail_lines(&self, name: &str, max: u64) -> Option<String> {
        tail(self.open_file(name)?, max, true)
    }

    /// [`ConfigFiles::tail_lines`] of a file of `folder` (this config's,
    /// opened already), with the file's whole length.
    pub fn tail_lines_in(folder: &Folder, name: &str, max: u64) -> Option<(String, u64)> {
        let file = open_regular(folder, name, true)?;
        let len = file.metadata().ok()?.len();
        Some((tail(file, max, true)?, len))
    }

    /// The last `n` lines of a file.
    pub fn last_lines(&self, name: &str, n: usize) -> Option<Vec<String>> {
        let text = self.tail(name, 64 * 1024)?;
        let lines: Vec<&str> = text.lines().collect();
        Some(lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect())
    }

    /// The last non-empty line the command printed, in `stdout.log` or
    /// `stderr.log`, whichever was written last, made fit for a terminal
    /// line. Asked for several times a second while a run is watched: it
    /// reads a few KiB at most, never blocks, and passes over a log that is
    /// not a regular file (or a folder that is a symlink) without a warning.
    pub fn last_output_line(&self) -> Option<String> {
        let folder = self.opened(false)?;
        let newest = [STDOUT, STDERR]
            .into_iter()
            .filter_map(|name| {
                let file = open_regular(&folder, name, false)?;
                let meta = file.metadata().ok()?;
                (meta.len() > 0).then(|| (meta.modified().ok(), file))
            })
            .max_by_key(|(modified, _)| *modified)?;
        let text = tail(newest.1, 4096, false)?;
        text.lines().rev().map(visible).find(|line| !line.is_empty())
    }

    /// The config's result: `result.json`, else Delphyne's `result.yaml`;
    /// None when there is none or it is not an object (with a warning).
    pub fn read_result(&self) -> Option<Value> {
        self.read_result_of(None)
    }

    /// The result of attempt N once a later one has started
    /// (`result.N.json`), or of the latest attempt (None: [`Self::read_result`]).
    pub fn read_result_of(&self, attempt: Option<u32>) -> Option<Value> {
        Self::read_result_in(&self.folder()?, attempt)
    }

    /// [`ConfigFiles::read_result_of`] in the config's folder, opened already.
    pub fn read_result_in(folder: &Folder, attempt: Option<u32>) -> Option<Value> {
        let json = attempt.map_or_else(|| RESULT.to_string(), |n| ConfigFiles::of_attempt(RESULT, n));
        let (path, value) = match open_regular(folder, &json, true) {
            Some(file) => {
                let path = folder.join(&json);
                let bytes = read_all(file, &path, MAX_RESULT_BYTES)?;
                (path, serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()))
            }
            None if attempt.is_some() => return None,
            None => {
                let path = folder.join(RESULT_YAML);
                let bytes = read_all(open_regular(folder, RESULT_YAML, true)?, &path, MAX_RESULT_BYTES)?;
                (path, serde_yaml::from_slice::<Value>(&bytes).map_err(|e| e.to_string()))
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

/// Why a path inside the experiment was not followed: a symlink, or not a folder.
pub fn refusal(path: &Path) -> &'static str {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            "a symlink, which exp never follows inside an experiment"
        }
        _ => "not a folder",
    }
}

/// Open a file a command controls, in `folder`: without blocking and
/// without following a symlink; None unless it is a regular file (with a
/// warning, if `warn`, when something else stands in its place).
pub fn open_regular(folder: &Folder, name: &str, warn: bool) -> Option<File> {
    match folder.open_regular(name) {
        Ok(file) => Some(file),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(_) if warn => {
            warn_once(format!("{}: not a regular file; ignored", folder.join(name).display()));
            None
        }
        Err(_) => None,
    }
}

/// The whole of an open file, if it is at most `max` bytes (else a
/// warning naming `path`).
pub fn read_all(file: File, path: &Path, max: u64) -> Option<Vec<u8>> {
    let len = file.metadata().ok()?.len();
    if len > max {
        warn_once(format!("{}: larger than {} MiB; ignored", path.display(), max >> 20));
        return None;
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// The whole of a regular file at `path`, if it is at most `max` bytes;
/// never blocking, never through a symlink at its last component.
pub fn read_regular(path: &Path, max: u64) -> Option<Vec<u8>> {
    let (parent, name) = (path.parent()?, path.file_name()?.to_str()?);
    let folder = Folder::root(if parent.as_os_str().is_empty() { Path::new(".") } else { parent }).ok()?;
    read_all(open_regular(&folder, name, true)?, path, max)
}

fn tail(mut file: File, max: u64, whole_lines: bool) -> Option<String> {
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

    fn files_in(tmp: &tempfile::TempDir) -> ConfigFiles {
        std::fs::create_dir_all(tmp.path().join("configs/c")).unwrap();
        ConfigFiles::new(tmp.path(), "c")
    }

    #[test]
    fn a_fifo_is_not_read_and_does_not_block() {
        let tmp = tempfile::tempdir().unwrap();
        let files = files_in(&tmp);
        nix::unistd::mkfifo(&files.result(), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(files.read(RESULT, 100).is_none());
        assert!(files.tail(RESULT, 100).is_none());
        assert!(read_regular(&files.result(), 100).is_none());
    }

    #[test]
    fn tails_start_at_a_line() {
        let tmp = tempfile::tempdir().unwrap();
        let files = files_in(&tmp);
        std::fs::write(files.dir.join("log"), "aaaa\nbb\ncc\n").unwrap();
        assert_eq!(files.tail("log", 7).unwrap(), "bb\ncc\n");
        // A window inside one long line: its end for a display, nothing
        // for whole lines.
        std::fs::write(files.dir.join("long"), "aaaaaaaaaa{\"x\":1}").unwrap();
        assert_eq!(files.tail("long", 7).unwrap(), "{\"x\":1}");
        assert_eq!(files.tail_lines("long", 7).unwrap(), "");
        assert_eq!(files.last_lines("log", 2).unwrap(), ["bb", "cc"]);
        assert_eq!(ConfigFiles::of_attempt(STDOUT, 2), "stdout.2.log");
    }

    #[test]
    fn nothing_is_read_through_a_config_folder_that_is_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join(RESULT), r#"{"secret": 1}"#).unwrap();
        std::fs::write(outside.join(STDOUT), "secret\n").unwrap();
        std::fs::create_dir(tmp.path().join("configs")).unwrap();
        std::os::unix::fs::symlink(&outside, tmp.path().join("configs/c")).unwrap();
        let files = ConfigFiles::new(tmp.path(), "c");
        assert!(files.read_result().is_none());
        assert!(files.tail(STDOUT, 100).is_none());
        assert!(files.last_output_line().is_none());
        assert!(is_symlink_refusal(&files.open().unwrap_err()));
    }

    #[test]
    fn the_last_output_line_is_the_newest_logs_printable_last_line() {
        let tmp = tempfile::tempdir().unwrap();
        let files = files_in(&tmp);
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
