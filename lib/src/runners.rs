//! Runners and their claims: each `exp-run` registers itself in
//! `.exp/runners/ID.json` and renews the file's mtime as a heartbeat, so
//! other processes can tell a live claim from one left by a dead runner.

use crate::error::{Error, Result};
use crate::model::{Claim, Entry, Experiment, Status};
use crate::process;
use crate::store::atomic::write_atomic;
use crate::store::census::Census;
use crate::store::journal::Event;
use crate::store::lock::Lock;
use crate::store::{Cursor, Store};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime};

/// How often a runner renews its heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// The default for `--stale-after`: a heartbeat older than this is dead.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(120);

/// This machine's hostname, as claims record it.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunnerInfo {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub started: Timestamp,
    /// The process's start time in clock ticks since boot (Linux), so a
    /// reused pid is not taken for the runner.
    #[serde(default)]
    pub start_ticks: Option<u64>,
}

impl RunnerInfo {
    pub fn claim(&self) -> Claim {
        Claim { id: self.id.clone(), host: self.host.clone(), pid: self.pid, worker: None }
    }
}

/// This process registered as a runner; the heartbeat thread runs until drop,
/// which unregisters it.
#[derive(Debug)]
pub struct Registration {
    pub claim: Claim,
    path: PathBuf,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Registration {
    pub fn register(store: &Store) -> Result<Registration> {
        let host = hostname();
        let pid = std::process::id();
        let id = format!(
            "{}-{pid}-{}",
            crate::naming::sanitize(&host),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let started = Timestamp::now();
        let info = RunnerInfo {
            id: id.clone(),
            host: host.clone(),
            pid,
            started,
            start_ticks: process::start_ticks(pid),
        };
        // Made again if it went (an experiment kept in git loses empty folders).
        crate::store::atomic::ensure_dir(&store.runners_dir())?;
        let path = store.runners_dir().join(format!("{id}.json"));
        let text = serde_json::to_string(&info).expect("runner info serializes");
        write_atomic(&path, text.as_bytes())?;
        let (stop, stopped) = mpsc::channel::<()>();
        let beat = path.clone();
        let thread = thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT_INTERVAL) {
                match crate::store::atomic::no_follow().write(true).open(&beat) {
                    // The time is the filesystem's (UTIME_NOW): on a network
                    // filesystem, the server's clock, not this host's.
                    Ok(file) => {
                        let _ = nix::sys::stat::futimens(
                            std::os::fd::AsRawFd::as_raw_fd(&file),
                            &nix::sys::time::TimeSpec::UTIME_NOW,
                            &nix::sys::time::TimeSpec::UTIME_NOW,
                        );
                    }
                    // Removed while we were suspended and taken for dead: say we live.
                    Err(_) => {
                        let _ = write_atomic(&beat, text.as_bytes());
                    }
                }
            }
        });
        Ok(Registration {
            claim: Claim { id, host, pid, worker: None },
            path,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// Tells live runners from dead ones.
pub struct Liveness {
    host: String,
    stale_after: Duration,
    dir: PathBuf,
    /// Whether processes of a dead runner are left on this host, by runner.
    leftovers: std::cell::RefCell<std::collections::HashMap<String, bool>>,
}

impl Liveness {
    pub fn new(store: &Store, stale_after: Duration) -> Liveness {
        Liveness { host: hostname(), stale_after, dir: store.runners_dir(), leftovers: Default::default() }
    }

    /// A runner is alive while its registration exists and, on this host, its
    /// process exists (the same process, not a reuse of its pid); on another
    /// host, while its heartbeat is fresh.
    pub fn is_alive(&self, claim: &Claim) -> bool {
        let path = self.dir.join(format!("{}.json", claim.id));
        let Ok(meta) = fs::metadata(&path) else {
            return false;
        };
        if claim.host == self.host {
            let recorded = read_registration(&path).and_then(|info| info.start_ticks);
            let reused =
                recorded.is_some_and(|ticks| process::start_ticks(claim.pid).is_some_and(|now| now != ticks));
            return process::exists(claim.pid) && !reused;
        }
        let age = meta.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok());
        age.is_none_or(|age| age < self.stale_after)
    }

    /// Whether a claim of a running config is left by a dead runner (or by
    /// none), with no process of that runner left on this host.
    pub fn is_stale(&self, claim: Option<&Claim>) -> bool {
        match claim {
            None => true,
            Some(claim) if self.is_alive(claim) => false,
            Some(claim) if claim.host != self.host => true,
            Some(claim) => !*self.leftovers.borrow_mut().entry(claim.id.clone()).or_insert_with(|| {
                !process::with_env(crate::run::watchdog::RUNNER_VAR, &claim.id).is_empty()
            }),
        }
    }

    /// The other runners that are alive now.
    pub fn active_runners(&self, except: Option<&str>) -> Vec<RunnerInfo> {
        self.registrations()
            .into_iter()
            .map(|(_, info)| info)
            .filter(|info| Some(info.id.as_str()) != except && self.is_alive(&info.claim()))
            .collect()
    }

    /// Remove registrations of dead runners (housekeeping).
    pub fn forget_dead(&self) {
        for (path, info) in self.registrations() {
            if !self.is_alive(&info.claim()) {
                let _ = fs::remove_file(path);
            }
        }
    }

    /// Every readable registration file, with its path.
    fn registrations(&self) -> Vec<(PathBuf, RunnerInfo)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let info = read_registration(&path)?;
                Some((path, info))
            })
            .collect()
    }
}

/// A runner's registration, read without blocking and only if a regular
/// file (a FIFO planted among them must not hang anyone).
fn read_registration(path: &std::path::Path) -> Option<RunnerInfo> {
    let bytes = crate::store::config_files::read_regular(path, 64 * 1024)?;
    serde_json::from_slice(&bytes).ok()
}

/// Configs `running` under a dead runner's claim (or under none, as a crashed
/// Delphyne run leaves them). On this host, a claim stays until no process
/// of its runner is left either (`EXP_RUNNER` in their environment): its
/// watchdog may still be killing them, or, if the watchdog died too, they
/// still run, and the config must not start twice at once.
pub fn stale_claims<'a>(
    configs: impl IntoIterator<Item = (&'a String, &'a Entry)>,
    liveness: &Liveness,
) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    for (name, entry) in configs.into_iter().filter(|(_, e)| e.status() == Status::Running) {
        if liveness.is_stale(entry.get()?.runner.as_ref()) {
            stale.push(name.clone());
        }
    }
    Ok(stale)
}

/// Put the stale claims among `names` back to `todo`, keeping their start
/// time and marking when they were interrupted. Must hold the exclusive lock
/// and an up-to-date state.
pub fn recover(
    store: &mut Store,
    lock: &Lock,
    cursor: &mut Cursor,
    experiment: &mut Experiment,
    names: &[String],
) -> Result<Vec<Event>> {
    let now = Timestamp::now();
    let mut events = Vec::new();
    for name in names {
        let Some(entry) = experiment.configs.get_mut(name) else {
            continue;
        };
        if entry.status() != Status::Running {
            continue;
        }
        let config = entry.get_mut()?;
        config.status = Status::Todo;
        config.interruption_time = Some(now);
        config.runner = None;
        events.push(Event { name: name.clone(), config: config.clone() });
    }
    if !events.is_empty() {
        store.append(lock, cursor, &events)?;
        store.sync()?;
    }
    Ok(events)
}

/// Put every claim of a dead runner back to todo ([`stale_claims`], then
/// [`recover`]). Must hold the exclusive lock and an up-to-date state.
pub fn recover_stale(
    store: &mut Store,
    lock: &Lock,
    cursor: &mut Cursor,
    experiment: &mut Experiment,
    liveness: &Liveness,
) -> Result<Vec<Event>> {
    let stale = stale_claims(&experiment.configs, liveness)?;
    recover(store, lock, cursor, experiment, &stale)
}

/// `exp-status` recovers dead claims before it looks (as `exp-run` does
/// when it starts): cheap when there are none (a shared read of every
/// config's status), one append when there are.
pub fn census_recovering(store: &mut Store, stale_after: Duration) -> Result<Census> {
    let liveness = Liveness::new(store, stale_after);
    let census = {
        let lock = store.lock_shared()?;
        store.census(&lock)?
    };
    if stale_claims(census.configs.iter().map(|(n, e)| (n, e)), &liveness)?.is_empty() {
        return Ok(census);
    }
    let recovering = (|| {
        let lock = store.lock()?;
        let (mut experiment, mut cursor) = store.load(&lock)?;
        let recovered = recover_stale(store, &lock, &mut cursor, &mut experiment, &liveness)?;
        Ok::<_, Error>((experiment, recovered.len()))
    })();
    match recovering {
        Ok((experiment, recovered)) => {
            if recovered > 0 {
                crate::report::warn(format!(
                    "{recovered} config(s) claimed by runners that are gone are back to todo"
                ));
            }
            Ok(Census::from(experiment))
        }
        // A read-only experiment, or a full disk: show it as it is.
        Err(err) if matches!(err.kind, crate::Kind::State | crate::Kind::Storage | crate::Kind::Resource) => {
            crate::report::warn(format!(
                "claims of runners that are gone could not be put back to todo ({err}); shown as they are"
            ));
            Ok(census)
        }
        Err(err) => Err(err),
    }
}

/// The number of configs per status, for `exp-status --counts` and
/// `--check`: from the index and the journal when there is an index (no
/// config line read), and with dead runners' claims recovered first.
pub fn counts_recovering(store: &mut Store, stale_after: Duration) -> Result<crate::status::Counts> {
    let liveness = Liveness::new(store, stale_after);
    let indexed = {
        let lock = store.lock_shared()?;
        store.indexed(&lock)?
    };
    if let Some(indexed) = indexed {
        let (counts, running) = crate::store::census::count_indexed(&indexed);
        if !running.iter().any(|(_, claim)| liveness.is_stale(claim.as_ref())) {
            return Ok(counts);
        }
    }
    Ok(census_recovering(store, stale_after)?.counts())
}
