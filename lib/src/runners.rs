//! Runners and their claims: each `exp-run` registers itself in
//! `.exp/runners/ID.json` and renews the file's mtime as a heartbeat, so
//! other processes can tell a live claim from one left by a dead runner.
//!
//! A runner that shares our host (hostname, boot id and PID namespace, see
//! [`crate::host`]) lives while its process does; any other, while its
//! heartbeat is fresh. A heartbeat's age is measured on the filesystem's
//! own clock ([`crate::store::clock`]), never on ours: hosts whose clocks
//! differ must not take each other for dead, nor for alive for ever.
//!
//! A dead runner's claim on this host is recovered only once none of its
//! processes is left. Another Unix user's processes cannot be looked at
//! (their environment is private), so a claim of another user's runner is
//! left to that user's tools, or root's.

use crate::error::Result;
use crate::host::Host;
use crate::model::{Claim, Entry, Experiment, Status};
use crate::process;
use crate::store::atomic::write_atomic;
use crate::store::census::Census;
use crate::store::journal::Event;
use crate::store::lock::Lock;
use crate::store::stream::Snapshot;
use crate::store::{Cursor, Store};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// The environment variable naming a command's runner: every process
/// that carries it belongs to that runner's run.
pub const RUNNER_VAR: &str = "EXP_RUNNER";

/// How often a runner renews its heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// The default for `--stale-after`: a heartbeat older than this is dead.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(120);

/// How long one reading of the filesystem's clock serves (a liveness
/// round), moved on by our own monotonic clock meanwhile.
const CLOCK_ROUND: Duration = Duration::from_secs(1);

/// How far in the future a heartbeat may be stamped without a word: the
/// filesystem's stamps are coarse, and one may land after our reading.
const CLOCK_SLACK: Duration = Duration::from_secs(2);

pub use crate::host::hostname;

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
    /// With `host`, where `pid` means this runner (none in registrations
    /// of earlier releases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_ns: Option<String>,
    /// The runner's Unix user (else the file's owner tells: on a
    /// filesystem that squashes every user to one, only this is right).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

impl RunnerInfo {
    pub fn claim(&self) -> Claim {
        Claim { id: self.id.clone(), host: self.host.clone(), pid: self.pid, worker: None, devices: None }
    }

    /// The host the runner runs on.
    pub fn place(&self) -> Host {
        Host { host: self.host.clone(), boot_id: self.boot_id.clone(), pid_ns: self.pid_ns.clone() }
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
        let here = Host::here();
        let host = here.host.clone();
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
            start_ticks: process::own_start_ticks(),
            boot_id: here.boot_id.clone(),
            pid_ns: here.pid_ns.clone(),
            uid: Some(nix::unistd::geteuid().as_raw()),
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
            claim: Claim { id, host, pid, worker: None, devices: None },
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
    here: &'static Host,
    stale_after: Duration,
    dir: PathBuf,
    /// Whether processes of a dead runner are left on this host, by runner.
    leftovers: RefCell<HashMap<String, bool>>,
    /// The filesystem's clock as last read, and when (None: it could not be).
    clock: Cell<Option<(Instant, Option<SystemTime>)>>,
    /// Our effective uid: root may look at every process.
    uid: u32,
    /// Dead runners of other users, whose processes we cannot look for, by id.
    foreign: RefCell<HashMap<String, u32>>,
}

impl Liveness {
    pub fn new(store: &Store, stale_after: Duration) -> Liveness {
        Liveness {
            here: Host::here(),
            stale_after,
            dir: store.runners_dir(),
            leftovers: Default::default(),
            clock: Cell::new(None),
            uid: nix::unistd::geteuid().as_raw(),
            foreign: Default::default(),
        }
    }

    /// A runner is alive while its registration exists and, on this host, its
    /// process exists (the same process, not a reuse of its pid); on another
    /// host, while its heartbeat is fresh.
    pub fn is_alive(&self, claim: &Claim) -> bool {
        let registration = self.registration(claim);
        self.alive(claim, registration.as_ref())
    }

    fn alive(&self, claim: &Claim, registration: Option<&Registered>) -> bool {
        let Some(Registered { meta, info }) = registration else {
            return false;
        };
        if self.shares_pids(claim, info.as_ref()) {
            let recorded = info.as_ref().and_then(|info| info.start_ticks);
            let reused =
                recorded.is_some_and(|ticks| process::start_ticks(claim.pid).is_some_and(|now| now != ticks));
            return process::exists(claim.pid) && !reused;
        }
        let Ok(beat) = meta.modified() else {
            return true;
        };
        match self.now().duration_since(beat) {
            Ok(age) => age < self.stale_after,
            // Stamped ahead of the filesystem's clock as we read it (or of
            // ours, when we cannot read it): alive, but not for ever.
            Err(ahead) => {
                let ahead = ahead.duration();
                if ahead > CLOCK_SLACK {
                    warn_future(claim, ahead, self.stale_after);
                }
                ahead < self.stale_after
            }
        }
    }

    /// Now, by the clock that stamps heartbeats: read once per round from a
    /// file made among them; by our own clock when none can be made there
    /// (a read-only experiment, another user's folder), which is said once.
    fn now(&self) -> SystemTime {
        let reading = match self.clock.get() {
            Some((taken, reading)) if taken.elapsed() < CLOCK_ROUND => reading.map(|at| at + taken.elapsed()),
            _ => {
                let reading = match crate::store::clock::now_in(&self.dir) {
                    Ok(at) => Some(at),
                    Err(err) => {
                        own_clock(&self.dir, &err);
                        None
                    }
                };
                self.clock.set(Some((Instant::now(), reading)));
                reading
            }
        };
        reading.unwrap_or_else(SystemTime::now)
    }

    /// Whether a claim of a running config is left by a dead runner (or by
    /// none), with no process of that runner left on this host.
    pub fn is_stale(&self, claim: Option<&Claim>) -> bool {
        let Some(claim) = claim else {
            return true;
        };
        let registration = self.registration(claim);
        if self.alive(claim, registration.as_ref()) {
            return false;
        }
        // Another kernel's processes cannot be looked for; this kernel's
        // can, from any PID namespace that holds theirs.
        let info = registration.as_ref().and_then(|r| r.info.as_ref());
        if !self.shares_kernel(claim, info) {
            return true;
        }
        if let Some(owner) = registration.as_ref().map(Registered::uid).filter(|&uid| !self.may_look_at(uid))
        {
            // Its command may run on where we cannot see it.
            self.foreign.borrow_mut().insert(claim.id.clone(), owner);
            return false;
        }
        !*self
            .leftovers
            .borrow_mut()
            .entry(claim.id.clone())
            .or_insert_with(|| !process::with_env(RUNNER_VAR, &claim.id).is_empty())
    }

    /// The last heartbeat of a claim's runner that is judged by its
    /// heartbeat (on another host); None for one judged by its pid, or
    /// without a registration.
    pub fn beat(&self, claim: &Claim) -> Option<SystemTime> {
        let Registered { meta, info } = self.registration(claim)?;
        if self.shares_pids(claim, info.as_ref()) {
            return None;
        }
        meta.modified().ok()
    }

    /// Whether the claim's runner runs where its pid means the same process
    /// as here: the same host, boot and PID namespace. Its registration
    /// says where; without one (an earlier release's, or gone), the claim's
    /// hostname decides, as it did before.
    pub fn is_local(&self, claim: &Claim) -> bool {
        let registration = self.registration(claim);
        self.shares_pids(claim, registration.as_ref().and_then(|r| r.info.as_ref()))
    }

    /// Whether we can look at the processes of user `uid` (their environment).
    fn may_look_at(&self, uid: u32) -> bool {
        self.uid == uid || self.uid == 0
    }

    /// The user of a dead runner whose claim [`Liveness::is_stale`] left
    /// alone because that user's processes cannot be looked at.
    pub fn foreign_owner(&self, claim: &Claim) -> Option<u32> {
        self.foreign.borrow().get(&claim.id).copied()
    }

    fn shares_pids(&self, claim: &Claim, info: Option<&RunnerInfo>) -> bool {
        claim.host == self.here.host && info.is_none_or(|info| self.here.same_pids(&info.place()))
    }

    fn shares_kernel(&self, claim: &Claim, info: Option<&RunnerInfo>) -> bool {
        claim.host == self.here.host && info.is_none_or(|info| self.here.same_kernel(&info.place()))
    }

    /// The claim's runner's registration file, if it exists (the runner may
    /// be alive), with what it says, if it can be read.
    fn registration(&self, claim: &Claim) -> Option<Registered> {
        let path = self.dir.join(format!("{}.json", claim.id));
        let meta = fs::symlink_metadata(&path).ok().filter(|meta| meta.is_file())?;
        Some(Registered { meta, info: read_registration(&path) })
    }

    /// The other runners that are alive now.
    pub fn active_runners(&self, except: Option<&str>) -> Vec<RunnerInfo> {
        self.registrations()
            .into_iter()
            .map(|(_, info)| info)
            .filter(|info| Some(info.id.as_str()) != except && self.is_alive(&info.claim()))
            .collect()
    }

    /// Remove registrations of dead runners (housekeeping), and clock
    /// files left by readers killed while they read the clock. A dead
    /// runner's registration stays while any process of it may be left (or
    /// while we cannot tell, for another user's): it says whose its claims
    /// are, to the users who cannot look.
    pub fn forget_dead(&self) {
        for (path, info) in self.registrations() {
            if self.is_stale(Some(&info.claim())) {
                let _ = fs::remove_file(path);
            }
        }
        if let Some((_, Some(now))) = self.clock.get() {
            crate::store::clock::remove_left_over(&self.dir, now);
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

/// Say once per process that heartbeats are judged by this host's clock.
fn own_clock(dir: &std::path::Path, err: &std::io::Error) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        crate::report::warn(format!(
            "cannot make a file in {} ({err}) to read the filesystem's clock: runners on other hosts are judged by this host's clock, which may differ from theirs",
            dir.display()
        ))
    });
}

/// Say once per runner that its heartbeat is stamped in the future.
fn warn_future(claim: &Claim, ahead: Duration, stale_after: Duration) {
    static SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if said.get_or_insert_with(HashSet::new).insert(claim.id.clone()) {
        crate::report::warn(format!(
            "the heartbeat of runner {} (host {}) is stamped {} in the future: clocks disagree; it counts as alive only while that is less than --stale-after ({})",
            claim.id,
            claim.host,
            humantime::format_duration(Duration::from_secs(ahead.as_secs())),
            humantime::format_duration(stale_after)
        ));
    }
}

/// A registration file as found.
struct Registered {
    meta: fs::Metadata,
    info: Option<RunnerInfo>,
}

impl Registered {
    /// The runner's Unix user: as it recorded, else the file's owner.
    fn uid(&self) -> u32 {
        self.info.as_ref().and_then(|info| info.uid).unwrap_or_else(|| self.meta.uid())
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
    let mut running = Vec::new();
    for (name, entry) in configs.into_iter().filter(|(_, e)| e.status() == Status::Running) {
        running.push((name, entry.get()?.runner.as_ref()));
    }
    Ok(judge(running, liveness))
}

/// The stale ones among running configs with their claims; a word about
/// those left alone because their user's processes cannot be looked at.
fn judge<'a>(
    running: impl IntoIterator<Item = (&'a String, Option<&'a Claim>)>,
    liveness: &Liveness,
) -> Vec<String> {
    let mut stale = Vec::new();
    let mut foreign: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    for (name, claim) in running {
        if liveness.is_stale(claim) {
            stale.push(name.clone());
        } else if let Some(uid) = claim.and_then(|claim| liveness.foreign_owner(claim)) {
            foreign.entry(uid).or_default().push(name.clone());
        }
    }
    for (uid, names) in foreign {
        let user = match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
            Ok(Some(user)) => format!("user {} (uid {uid})", user.name),
            _ => format!("uid {uid}"),
        };
        let count = names.len();
        crate::report::warn_once(format!(
            "{count} running config(s) ({}) were claimed by a runner of {user} that is gone, but their commands may still run as that user, whose processes this user cannot look at: they stay running until exp-status or exp-run is run as {user} (or as root), which puts them back to todo once their commands have ended",
            crate::report::first_few(names.into_iter(), 3)
        ));
    }
    stale
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
        config.interrupt(now);
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
    let recovered = recover_or_say(store, |store| recover_loaded(store, &liveness))?;
    Ok(recovered.map_or(census, |(experiment, _)| Census::from(experiment)))
}

/// [`census_recovering`] for a state read a config at a time: the same
/// recovery, by an append, without reading the state whole. None when the
/// state file is not in exp's own layout or not whole: read it whole then.
pub fn snapshot_recovering(store: &mut Store, stale_after: Duration) -> Result<Option<Snapshot>> {
    let liveness = Liveness::new(store, stale_after);
    let snapshot = {
        let lock = store.lock_shared()?;
        store.snapshot(&lock)?
    };
    let Some(snapshot) = snapshot else {
        return Ok(None);
    };
    if judge(snapshot.running(), &liveness).is_empty() {
        return Ok(Some(snapshot));
    }
    let recovered = recover_or_say(store, |store| {
        let lock = store.lock()?;
        let Some(mut snapshot) = store.snapshot(&lock)? else {
            return Ok((None, 0));
        };
        let stale = judge(snapshot.running(), &liveness);
        let recovered = snapshot.interrupt(store, &lock, &stale)?;
        Ok((Some(snapshot), recovered))
    })?;
    // A state that could not be read so under the exclusive lock is read whole.
    Ok(recovered.unwrap_or(Some(snapshot)))
}

/// The whole state and a cursor on it (for `exp-status --watch`), with dead
/// claims recovered first, as [`census_recovering`] does.
pub fn read_recovering(store: &mut Store, stale_after: Duration) -> Result<(Experiment, Cursor)> {
    let liveness = Liveness::new(store, stale_after);
    let read = store.read()?;
    if stale_claims(&read.0.configs, &liveness)?.is_empty() {
        return Ok(read);
    }
    Ok(recover_or_say(store, |store| recover_loaded(store, &liveness))?.unwrap_or(read))
}

/// Recover dead claims under the exclusive lock, the whole state loaded;
/// the state after and how many were recovered.
fn recover_loaded(store: &mut Store, liveness: &Liveness) -> Result<((Experiment, Cursor), usize)> {
    let lock = store.lock()?;
    let (mut experiment, mut cursor) = store.load(&lock)?;
    let recovered = recover_stale(store, &lock, &mut cursor, &mut experiment, liveness)?;
    Ok(((experiment, cursor), recovered.len()))
}

/// Recover dead claims (`recovering` takes the exclusive lock) and say how
/// many; the state after. None when they could not be (a read-only
/// experiment, a full disk): it is said, and the state is shown as it is.
fn recover_or_say<T>(
    store: &mut Store,
    recovering: impl FnOnce(&mut Store) -> Result<(T, usize)>,
) -> Result<Option<T>> {
    match recovering(store) {
        Ok((state, recovered)) => {
            if recovered > 0 {
                crate::report::warn(format!(
                    "{recovered} config(s) claimed by runners that are gone are back to todo"
                ));
            }
            Ok(Some(state))
        }
        Err(err) if matches!(err.kind, crate::Kind::State | crate::Kind::Storage | crate::Kind::Resource) => {
            crate::report::warn(format!(
                "claims of runners that are gone could not be put back to todo ({err}); shown as they are"
            ));
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// The number of configs per status, for `exp-status --counts` and
/// `--check`: from the index and the journal when there is an index (no
/// config line read), and with dead runners' claims recovered first.
pub fn counts_recovering(store: &mut Store, stale_after: Duration) -> Result<crate::model::Counts> {
    let liveness = Liveness::new(store, stale_after);
    let indexed = {
        let lock = store.lock_shared()?;
        store.indexed_counts(&lock)?
    };
    if let Some((counts, running)) = indexed {
        if judge(running.iter().map(|(name, claim)| (name, claim.as_ref())), &liveness).is_empty() {
            return Ok(counts);
        }
    }
    // No index of the state as it is (or claims to recover): a pass over it.
    if let Some(snapshot) = snapshot_recovering(store, stale_after)? {
        let mut counts = crate::model::Counts::default();
        snapshot.each(|_, entry| {
            counts.add(entry.status());
            Ok(())
        })?;
        return Ok(counts);
    }
    Ok(census_recovering(store, stale_after)?.counts())
}
