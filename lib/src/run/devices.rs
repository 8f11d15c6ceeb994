//! `exp-run --devices`: device tokens (GPUs) handed to configs K at a time,
//! each held by a host-wide lock file that the config's command inherits.
//!
//! Every token has a lock file in the lock folder (`$EXP_DEVICE_LOCKS`,
//! else `/tmp/exp-devices`); a config holds its tokens by an exclusive
//! `flock` on each. Such a lock belongs to the open file, and the config's
//! command inherits it (the descriptor is made inheritable in the child
//! only, between fork and exec; other commands never see it): a token is
//! free again only once the runner has let go *and* no process of the
//! config holds it, so a command orphaned by a SIGKILLed runner keeps its
//! GPU until it ends. A config takes its K tokens at once or none, and
//! never waits while holding some, so runners cannot deadlock; a runner
//! that finds too few free tries again every [`POLL`], without blocking.
//!
//! The folder is made mode 1777 (as `/tmp`) and each lock file 1666, so
//! the runners of several Unix users share them; the sticky bit on a file
//! keeps `systemd-tmpfiles` from ageing it out while a long config runs. A
//! token's file is the token with every byte other than `A-Z a-z 0-9 _ - .`
//! (and a leading `.`) written `%XX`, then `.lock`: `0.lock`, `GPU-8a1f….lock`.

use crate::error::{Error, Result};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Where the lock files are, when set (else [`DEFAULT_LOCKS`]).
pub const LOCKS_VAR: &str = "EXP_DEVICE_LOCKS";
pub const DEFAULT_LOCKS: &str = "/tmp/exp-devices";
/// What a config's command gets: its tokens, comma-separated, in both.
pub const DEVICES_VAR: &str = "EXP_DEVICES";
pub const CUDA_VAR: &str = "CUDA_VISIBLE_DEVICES";
/// How often the locks are tried again while a config waits for tokens.
pub const POLL: Duration = Duration::from_millis(500);
/// The most tokens a list may give (a range typed `0-99999` is a typo).
const MOST_TOKENS: usize = 4096;
/// The longest lock file name (`%XX` escapes and `.lock` included).
const MOST_NAME_BYTES: usize = 255;

/// `--devices LIST --devices-per-config K`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    pub tokens: Vec<String>,
    pub per_config: usize,
    /// The lock folder.
    pub locks: PathBuf,
}

impl DeviceRequest {
    /// `list` (`0,1,2,3`, `0-3`, `GPU-8a1f…,GPU-77c2…`) and K, or exit 2.
    pub fn new(list: &str, per_config: usize, locks: PathBuf) -> Result<DeviceRequest> {
        let tokens = parse_list(list)?;
        if per_config == 0 {
            return Err(Error::usage("--devices-per-config 0: a config holds 1 device or more"));
        }
        if per_config > tokens.len() {
            return Err(Error::usage(format!(
                "--devices-per-config {per_config} is more than the {} device(s) of --devices {list}",
                tokens.len()
            )));
        }
        Ok(DeviceRequest { tokens, per_config, locks })
    }

    /// How many configs can hold their devices at once: floor(len/K).
    pub fn most_jobs(&self) -> usize {
        self.tokens.len() / self.per_config
    }

    /// The number of workers: `-j N` as `asked` (None when not given, 0
    /// for one per core, capped here), at most [`DeviceRequest::most_jobs`].
    pub fn jobs(&self, asked: Option<usize>, cores: usize) -> Result<usize> {
        let most = self.most_jobs();
        match asked {
            None => Ok(most),
            Some(0) => Ok(cores.clamp(1, most)),
            Some(n) if n <= most => Ok(n),
            Some(n) => Err(Error::usage(format!(
                "-j {n}: --devices gives {} device(s), {} per config, so at most {most} config(s) run at once; \
                 drop -j (it defaults to {most}) or give more devices",
                self.tokens.len(),
                self.per_config
            ))),
        }
    }

    /// The tokens worker `worker` would hold if no one else held any (for
    /// `--dry-run`).
    pub fn preview(&self, worker: usize) -> String {
        let start = worker % self.most_jobs().max(1) * self.per_config;
        self.tokens[start..start + self.per_config].join(",")
    }
}

/// The lock folder: `$EXP_DEVICE_LOCKS`, else [`DEFAULT_LOCKS`].
pub fn lock_folder() -> PathBuf {
    match std::env::var_os(LOCKS_VAR).filter(|dir| !dir.is_empty()) {
        Some(dir) => std::path::absolute(&dir).unwrap_or_else(|_| PathBuf::from(dir)),
        None => PathBuf::from(DEFAULT_LOCKS),
    }
}

/// The tokens of `--devices LIST`: names separated by commas; `A-B` with
/// two whole numbers is each number from A to B.
pub fn parse_list(list: &str) -> Result<Vec<String>> {
    let bad = |why: String| Error::usage(format!("--devices {list:?}: {why}"));
    if list.trim().is_empty() {
        return Err(bad("no device given (is $CUDA_VISIBLE_DEVICES empty here?)".into()));
    }
    let mut tokens: Vec<String> = Vec::new();
    for item in list.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(bad("an empty item between commas".into()));
        }
        if item.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad(format!("{item:?} holds a space or a control character")));
        }
        // Its lock file's name must fit a file system's 255 bytes.
        if file_name(item).len() > MOST_NAME_BYTES {
            return Err(bad(format!("{item:?} is too long for a device name")));
        }
        match range(item).map_err(bad)? {
            Some((first, last)) => tokens.extend((first..=last).map(|n| n.to_string())),
            None => tokens.push(item.to_string()),
        }
        if tokens.len() > MOST_TOKENS {
            return Err(bad(format!("more than {MOST_TOKENS} devices")));
        }
    }
    let mut seen = HashSet::new();
    if let Some(twice) = tokens.iter().find(|token| !seen.insert(token.as_str())) {
        return Err(bad(format!("device {twice} is given twice")));
    }
    Ok(tokens)
}

/// `A-B` of two whole numbers, A <= B; None for a name (`GPU-8a1f…`).
fn range(item: &str) -> std::result::Result<Option<(u64, u64)>, String> {
    let Some((first, last)) = item.split_once('-') else { return Ok(None) };
    let number = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !number(first) || !number(last) {
        return Ok(None);
    }
    let parse = |text: &str| text.parse::<u64>().map_err(|_| format!("{item}: a number too big"));
    let (first, last) = (parse(first)?, parse(last)?);
    if first > last {
        return Err(format!("{item}: a range goes up, as 0-3"));
    }
    if last - first >= MOST_TOKENS as u64 {
        return Err(format!("{item}: more than {MOST_TOKENS} devices"));
    }
    Ok(Some((first, last)))
}

/// A token's lock file name: safe bytes as they are, others `%XX`.
pub fn file_name(token: &str) -> String {
    let mut name = String::with_capacity(token.len() + 5);
    for (at, byte) in token.bytes().enumerate() {
        let safe = byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-') || (byte == b'.' && at > 0);
        match safe {
            true => name.push(byte as char),
            false => name.push_str(&format!("%{byte:02X}")),
        }
    }
    name.push_str(".lock");
    name
}

/// The tokens a running config holds, their lock files open (close-on-exec
/// here, inherited by its command). Dropping it lets go of them: they are
/// free once no process of the config holds them either.
#[derive(Debug)]
pub struct Held {
    list: String,
    files: Vec<File>,
}

impl Held {
    /// The tokens, comma-separated: `0,1`.
    pub fn list(&self) -> &str {
        &self.list
    }

    /// Let `command`'s process, and so its children, inherit the locks.
    pub fn pass_to(&self, command: &mut Command) {
        let fds: Vec<RawFd> = self.files.iter().map(AsRawFd::as_raw_fd).collect();
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls fcntl(2), which is async-signal-safe, on descriptors
        // this process holds open until the spawn has returned.
        unsafe {
            command.pre_exec(move || {
                for &fd in &fds {
                    inheritable(fd)?;
                }
                Ok(())
            });
        }
    }
}

/// Clear `FD_CLOEXEC` on `fd` (in a forked child: no allocation).
fn inheritable(fd: RawFd) -> std::io::Result<()> {
    use nix::libc::{fcntl, FD_CLOEXEC, F_GETFD, F_SETFD};
    // SAFETY: fcntl on a descriptor number; a bad one only fails.
    let flags = unsafe { fcntl(fd, F_GETFD) };
    // SAFETY: as above.
    if flags < 0 || unsafe { fcntl(fd, F_SETFD, flags & !FD_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The lock folder, open, and the tokens to take from it.
#[derive(Debug)]
pub struct Devices {
    request: DeviceRequest,
    folder: OwnedFd,
    /// Free tokens at the last try that found too few.
    free: usize,
}

impl Devices {
    /// Open (making it, mode 1777) the lock folder, and check that each
    /// token's lock file can be opened (made, mode 1666).
    pub fn open(request: &DeviceRequest) -> Result<Devices> {
        let path = &request.locks;
        let hint = |err: std::io::Error| {
            let error = Error::io("cannot use the device lock folder", path, err);
            let message = format!(
                "{}; {LOCKS_VAR} names another (one per host, that all runners of the host may write)",
                error.message
            );
            Error { message, ..error }
        };
        match std::fs::DirBuilder::new().mode(0o1777).create(path) {
            // Made now, so ours: the mode whatever the umask.
            Ok(()) => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o1777)).map_err(hint)?
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(hint(err)),
        }
        let folder =
            rustix::fs::open(path, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|err| hint(err.into()))?;
        let devices = Devices { request: request.clone(), folder, free: 0 };
        for token in &request.tokens {
            devices.open_lock(token).map_err(|err| {
                let error = Error::io("cannot open the device lock", &path.join(file_name(token)), err);
                Error { message: format!("{}; {LOCKS_VAR} names another folder", error.message), ..error }
            })?;
        }
        Ok(devices)
    }

    pub fn request(&self) -> &DeviceRequest {
        &self.request
    }

    /// K free tokens, now, locked for a config; None (holding nothing) if
    /// fewer are free. A token whose lock file cannot be opened is left
    /// out, with a warning once.
    pub fn try_take(&mut self) -> Option<Held> {
        let want = self.request.per_config;
        let mut tokens = Vec::with_capacity(want);
        let mut files = Vec::with_capacity(want);
        let mut free = 0;
        for token in &self.request.tokens {
            match self.try_lock(token) {
                Ok(Some(file)) => {
                    free += 1;
                    if files.len() < want {
                        tokens.push(token.as_str());
                        files.push(file);
                    }
                }
                Ok(None) => {}
                Err(err) => crate::report::warn_once(format!(
                    "device {token} is left out: cannot lock {}: {err}",
                    self.request.locks.join(file_name(token)).display()
                )),
            }
            if files.len() == want {
                return Some(Held { list: tokens.join(","), files });
            }
        }
        self.free = free;
        None
    }

    /// Why a config waits, after a [`Devices::try_take`] that found too few.
    pub fn waiting(&self) -> String {
        format!(
            "waiting for devices: {} per config, {} of {} free",
            self.request.per_config,
            self.free,
            self.request.tokens.len()
        )
    }

    /// `token`'s lock file, locked now; None if another holds it.
    fn try_lock(&self, token: &str) -> std::io::Result<Option<File>> {
        let name = file_name(token);
        // The file may be removed (by hand) between our open and our lock:
        // the lock must be on the file that the name stands for now.
        for _ in 0..3 {
            let file = self.open_lock(token)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(err)) => return Err(err),
            }
            let now = rustix::fs::statat(&self.folder, name.as_str(), AtFlags::SYMLINK_NOFOLLOW);
            let held = file.metadata()?;
            if now.is_ok_and(|now| now.st_ino == held.ino() && now.st_dev == held.dev()) {
                return Ok(Some(file));
            }
        }
        Ok(None)
    }

    /// Open `token`'s lock file, making it if it is not there. An existing
    /// file is opened without O_CREAT, which a sticky folder refuses on
    /// another user's file where `fs.protected_regular` is set; read-only
    /// is enough for a lock when it may not be written.
    fn open_lock(&self, token: &str) -> std::io::Result<File> {
        let name = file_name(token);
        let flags = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
        loop {
            let opened =
                match rustix::fs::openat(&self.folder, name.as_str(), flags | OFlags::RDWR, Mode::empty()) {
                    Err(Errno::ACCESS) => {
                        rustix::fs::openat(&self.folder, name.as_str(), flags, Mode::empty())
                    }
                    other => other,
                };
            let fd = match opened {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    let create = flags | OFlags::RDWR | OFlags::CREATE | OFlags::EXCL;
                    match rustix::fs::openat(&self.folder, name.as_str(), create, Mode::from_raw_mode(0o666))
                    {
                        Ok(fd) => {
                            // Ours: the mode whatever the umask.
                            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o1666))?;
                            fd
                        }
                        Err(Errno::EXIST) => continue,
                        Err(err) => return Err(err.into()),
                    }
                }
                Err(err) => return Err(err.into()),
            };
            let stat = rustix::fs::fstat(fd.as_fd())?;
            if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
                return Err(std::io::Error::other("not a regular file"));
            }
            return Ok(File::from(fd));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn request(list: &str, per_config: usize, locks: &Path) -> DeviceRequest {
        DeviceRequest::new(list, per_config, locks.to_path_buf()).unwrap()
    }

    /// What `devices` takes, within a few seconds: a process another test
    /// forks meanwhile holds a copy of every descriptor until it execs.
    fn soon(devices: &mut Devices) -> Option<Held> {
        for _ in 0..500 {
            if let Some(held) = devices.try_take() {
                return Some(held);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    #[test]
    fn a_list_is_names_and_ranges_of_whole_numbers() {
        let tokens = |list: &str| parse_list(list).unwrap();
        assert_eq!(tokens("0-3"), ["0", "1", "2", "3"]);
        assert_eq!(tokens(" 0, 2-3 ,7"), ["0", "2", "3", "7"]);
        assert_eq!(tokens("GPU-8a1f,MIG-GPU-77c2/1/0"), ["GPU-8a1f", "MIG-GPU-77c2/1/0"]);
        assert_eq!(tokens("1-2-3,a-1"), ["1-2-3", "a-1"]);
        for bad in [
            "",
            " ",
            "0,,1",
            "3-0",
            "0,1,0",
            "0-1,1",
            "0-99999",
            "a b",
            "99999999999999999999-99999999999999999999",
        ] {
            let err = parse_list(bad).unwrap_err();
            assert!(err.message.starts_with("--devices"), "{bad:?}: {}", err.message);
        }
        assert!(parse_list("").unwrap_err().message.contains("CUDA_VISIBLE_DEVICES"));
    }

    #[test]
    fn workers_default_to_what_the_devices_allow_and_may_not_exceed_it() {
        let locks = Path::new("/nonexistent");
        let four = request("0-3", 2, locks);
        assert_eq!(four.most_jobs(), 2);
        assert_eq!(four.jobs(None, 8).unwrap(), 2);
        assert_eq!(four.jobs(Some(1), 8).unwrap(), 1);
        assert_eq!(four.jobs(Some(0), 1).unwrap(), 1);
        assert_eq!(four.jobs(Some(0), 8).unwrap(), 2);
        assert!(four.jobs(Some(3), 8).unwrap_err().message.contains("at most 2"));
        assert_eq!(request("0-4", 2, locks).most_jobs(), 2, "the odd one out is never used");
        assert!(DeviceRequest::new("0,1", 3, locks.into()).is_err());
        assert!(DeviceRequest::new("0,1", 0, locks.into()).is_err());
        assert_eq!(
            (four.preview(0), four.preview(1), four.preview(2)),
            ("0,1".into(), "2,3".into(), "0,1".into())
        );
    }

    #[test]
    fn a_token_becomes_a_safe_file_name_and_two_tokens_never_share_one() {
        assert_eq!(file_name("0"), "0.lock");
        assert_eq!(file_name("GPU-8a1f.x_y"), "GPU-8a1f.x_y.lock");
        assert_eq!(file_name("MIG-GPU-1/1/0"), "MIG-GPU-1%2F1%2F0.lock");
        assert_eq!(file_name(".."), "%2E..lock");
        assert_ne!(file_name("a/b"), file_name("a%2Fb"));
        assert_ne!(file_name("é"), file_name("e"));
    }

    #[test]
    fn tokens_are_taken_k_at_a_time_or_not_at_all_and_come_back_when_let_go() {
        let tmp = tempfile::tempdir().unwrap();
        let locks = tmp.path().join("locks");
        let mut one = Devices::open(&request("0-2", 2, &locks)).unwrap();
        let mut two = Devices::open(&request("0-2", 2, &locks)).unwrap();
        let held = one.try_take().expect("all free");
        assert_eq!(held.list(), "0,1");
        assert!(two.try_take().is_none(), "one of three is left, two are needed");
        assert_eq!(two.waiting(), "waiting for devices: 2 per config, 1 of 3 free");
        assert!(one.try_take().is_none(), "a runner does not take what it holds");
        drop(held);
        assert_eq!(soon(&mut two).expect("free again").list(), "0,1");
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&locks), 0o1777);
        assert_eq!(mode(&locks.join("0.lock")), 0o1666);
    }

    #[test]
    fn a_command_that_inherits_its_tokens_keeps_them_until_it_ends() {
        let tmp = tempfile::tempdir().unwrap();
        let locks = tmp.path().join("locks");
        let mut runner = Devices::open(&request("0", 1, &locks)).unwrap();
        let mut other = Devices::open(&request("0", 1, &locks)).unwrap();
        let held = runner.try_take().unwrap();
        let mut command = Command::new("sleep");
        command.arg("30");
        held.pass_to(&mut command);
        let mut child = command.spawn().unwrap();
        // A command started without them inherits nothing.
        let mut bystander = Command::new("sleep").arg("30").spawn().unwrap();
        drop(held);
        assert!(other.try_take().is_none(), "the command holds the token");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(soon(&mut other).is_some(), "free once the command is gone");
        bystander.kill().unwrap();
        bystander.wait().unwrap();
    }
}
