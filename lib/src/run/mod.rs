//! `exp-run`: run the todo configs of an experiment through a pool of
//! worker processes, safely alongside other runners.
//!
//! This module starts a run: the checks, the runner's registration and
//! watchdog, `--setup`, then the pool ([`pool`]) or a replay ([`replay`]).

mod backoff;
pub mod bars;
pub mod devices;
mod dry_run;
mod elsewhere;
pub mod events;
pub mod feedback;
mod follow;
pub mod interactive;
pub mod leftovers;
pub mod lines;
pub mod memory;
pub mod outcome;
mod pool;
mod queue;
pub mod replay;
mod resources;
pub mod setup;
mod skeletons;
pub mod spawn;
pub mod tally;
pub mod watchdog;
mod window;
mod workers;

use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::identity::merged;
use crate::model::{Experiment, Status};
use crate::provenance::Provenance;
use crate::runners::{Liveness, Registration};
use crate::select::Selection;
use crate::store::lock::Lock;
use crate::store::{Cursor, Store};
use devices::DeviceRequest;
use events::Events;
use feedback::Progress;
pub use follow::Follow;
use outcome::signal_name;
use pool::Pool;
use replay::Replay;
use resources::Resources;
use skeletons::Skeletons;
use spawn::{CacheMode, Launcher};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;
use watchdog::Watchdog;
use window::Window;

#[derive(Debug, Clone)]
pub struct Options {
    pub jobs: usize,
    pub retry_failed: bool,
    pub retries: u32,
    pub timeout: Option<Duration>,
    pub kill_after: Duration,
    /// `--names`: (line, name) pairs.
    pub names: Option<Vec<(usize, String)>>,
    pub shard: Option<crate::select::Shard>,
    pub limit: Option<usize>,
    pub stop_after: Option<Duration>,
    pub env: Vec<String>,
    pub dry_run: bool,
    pub json: bool,
    pub progress: Progress,
    pub quiet: bool,
    pub exclusive: bool,
    /// `--follow`: wait for configs added while it runs.
    pub follow: Option<Follow>,
    pub stale_after: Duration,
    pub cache: CacheMode,
    /// `--max-failures N`: launch nothing more once N configs failed in this run.
    pub max_failures: Option<usize>,
    /// `--setup CMD`: run once before the pool.
    pub setup: Option<String>,
    /// `--interactive`: Enter lists the running configs and takes a snapshot.
    pub interactive: bool,
    /// `--replay NAME` or `--replay-all`: run in the foreground, change nothing.
    pub replay: Option<Replay>,
    /// `--status-every DUR`: off a terminal, a line every DUR naming what is still running.
    pub status_every: Option<Duration>,
    /// `--require-result`: a config that exits 0 without a result is failed.
    pub require_result: bool,
    /// `--devices LIST --devices-per-config K`: tokens each config holds.
    pub devices: Option<DeviceRequest>,
    /// `--memfree SIZE`, in bytes: start a config only while SIZE is available.
    pub memfree: Option<u64>,
    /// `--record-env GLOB`: the variables each `provenance.json` records.
    pub record_env: Vec<String>,
    /// `--require-clean`: refuse to run unless the workdir's git tree is
    /// clean (tracked files as HEAD has them).
    pub require_clean: bool,
}

/// Run the experiment in `dir`; returns the exit code (0, 1 or 128+N).
pub fn run(dir: &Path, options: &Options) -> Result<ExitCode> {
    // First: the setup, a replay and the pool all wait for children.
    crate::process::reset_sigchld();
    let mut store = Store::open(dir)?;
    crate::provenance::check_patterns(&options.record_env)?;
    if options.require_clean {
        let (experiment, _) = store.read()?;
        crate::git::require_clean(&spawn::workdir_of(&experiment)?)?;
    }
    let selection = Selection {
        names: options.names.as_ref().map(|names| names.iter().map(|(_, n)| n.clone()).collect()),
        shard: options.shard,
    };
    if options.dry_run {
        return dry_run::dry_run(&mut store, options, &selection);
    }
    match &options.replay {
        Some(which) => replay_with_setup(store, options, &selection, which),
        None => run_pool(store, options, selection),
    }
}

/// `--replay`: the setup first, if any, its services stopped at the end.
/// A replay's command is in our process group and gets the terminal's
/// signals itself; the setup stops with exp-run's default dispositions (the
/// watchdog then takes what it started).
fn replay_with_setup(
    mut store: Store,
    options: &Options,
    selection: &Selection,
    which: &Replay,
) -> Result<ExitCode> {
    let (experiment, _) = store.read()?;
    let mut launcher = Launcher::new(&store, &experiment, &options.env, CacheMode::Replay)?;
    let Some(command) = &options.setup else {
        return replay::replay(&mut store, &launcher, which, selection);
    };
    check_request(&experiment, &launcher, options, selection)?;
    let id = format!("replay-{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // Dropped in this order: the services stop before the watchdog is told goodbye.
    let watchdog = Watchdog::start(&id)?;
    let mut services = setup::Services::new(&id, &store.internal_dir(), options.kill_after);
    match setup::run_setup(command, launcher.workdir(), store.dir(), &mut services, None)? {
        setup::Setup::Env(env) => launcher.set_setup_env(env),
        setup::Setup::Stopped(signal) => return Ok(ExitCode::interrupted(signal)),
    }
    let code = replay::replay(&mut store, &launcher, which, selection);
    services.stop();
    drop(watchdog);
    code
}

/// The pool: register, run the setup, then every selected todo config.
fn run_pool(mut store: Store, options: &Options, selection: Selection) -> Result<ExitCode> {
    // A SIZE above the total, a lock folder we cannot use: refused first.
    let resources = Resources::new(options.devices.as_ref(), options.memfree)?;
    // Stop signals are heard from here on, --setup included.
    let mut events = Events::watch(&STOP_SIGNALS)?;
    // Orphans below us come to us, so what a config leaves is found cheaply.
    if !leftovers::become_subreaper() {
        crate::report::warn("cannot become a child subreaper: what a command leaves running may outlive it");
    }
    let setup = match &options.setup {
        // Checked first, so a bad template never costs a setup.
        Some(command) => {
            let (experiment, _, launcher, window) = {
                let lock = store.lock_shared()?;
                load_checked(&store, &lock, options, &selection)?
            };
            let failed_too = options.retry_failed || selection.by_name();
            let anything = window.is_some_and(|window| window.todo_beyond() > 0)
                || experiment.configs.iter().any(|(n, e)| selection.wants(n, e.status(), failed_too));
            if !anything {
                crate::report::note("nothing to run: --setup skipped");
            }
            anything.then(|| (command, launcher.workdir().to_path_buf()))
        }
        None => None,
    };
    let liveness = Liveness::new(&store, options.stale_after);
    let lock = store.lock()?;
    // Without a setup, a bad state or request is refused before we register.
    let mut loaded = match setup {
        None => Some(load_checked(&store, &lock, options, &selection)?),
        Some(_) => None,
    };
    if options.exclusive {
        if let Some(other) = liveness.active_runners(None).first() {
            if options.quiet {
                // For cron: the exit code says it alone.
                return Ok(ExitCode::Busy);
            }
            return Err(Error::busy(format!(
                "another runner is active (pid {} on {}); --exclusive leaves it alone (drop it to share the work)",
                other.pid, other.host
            )));
        }
    }
    liveness.forget_dead();
    // Registered before the setup: what it leaves running carries our id,
    // so the watchdog takes it if we die. Dropped in reverse order: the
    // services stop before the watchdog is told goodbye.
    let registration = Registration::register(&store)?;
    let mut watchdog = Watchdog::start(&registration.claim.id)?;
    let mut services =
        setup::Services::new(&registration.claim.id, &store.internal_dir(), options.kill_after);
    let mut setup_env = Vec::new();
    let lock = match setup {
        Some((command, workdir)) => {
            // Others may work meanwhile: a setup may take long.
            drop(lock);
            match setup::run_setup(command, &workdir, store.dir(), &mut services, Some(&mut events))? {
                setup::Setup::Env(env) => setup_env = env,
                setup::Setup::Stopped(signal) => {
                    crate::report::note(format!(
                        "interrupted by {} during --setup: nothing ran, nothing changed",
                        signal_name(signal)
                    ));
                    return Ok(ExitCode::interrupted(signal));
                }
            }
            store.lock()?
        }
        None => lock,
    };
    let (experiment, cursor, mut launcher, window) = match loaded.take() {
        Some(loaded) => loaded,
        None => load_checked(&store, &lock, options, &selection)?,
    };
    launcher.set_setup_env(setup_env);
    launcher.set_runner(&registration.claim.id);
    let provenance =
        Provenance::new(store.dir(), launcher.workdir(), &registration.claim.id, &options.record_env)?;
    launcher.set_provenance(provenance);
    // Folders for the configs this run may start, made ahead by a thread.
    let todo = experiment.configs.values().filter(|entry| entry.status() == Status::Todo).count()
        + window.as_ref().map_or(0, Window::todo_beyond);
    let budget = todo.min(options.limit.unwrap_or(usize::MAX));
    let stock = (options.jobs.max(1) + 2).min(budget);
    if stock > 0 {
        let mut alive: HashSet<String> = liveness.active_runners(None).into_iter().map(|r| r.id).collect();
        alive.insert(registration.claim.id.clone());
        let files = launcher.first_files();
        launcher.set_skeletons(Skeletons::start(
            &store,
            &registration.claim.id,
            &alive,
            files,
            (stock, budget),
        ));
    }
    let listening = match options.interactive {
        true => {
            let listening = interactive::listen(events.enter_notifier());
            if listening.is_none() {
                crate::report::warn("--interactive needs stdin to be a terminal; ignored");
            }
            listening
        }
        false => None,
    };
    let mut pool = Pool::new(
        store,
        experiment,
        cursor,
        options,
        launcher,
        selection,
        registration,
        events,
        &mut watchdog,
        resources,
        window,
    );
    let code = match pool.prepare(&lock, &liveness) {
        Ok(()) => {
            drop(lock);
            match pool.work() {
                Ok(()) => {
                    drop(listening);
                    pool.conclude(&liveness)
                }
                Err(err) => {
                    pool.abort();
                    drop(pool);
                    Err(err)
                }
            }
        }
        Err(err) => {
            drop(pool);
            Err(err)
        }
    };
    services.stop();
    drop(watchdog);
    code
}

/// The state under the lock (only a window of it when that is enough),
/// and the launcher for it, the request checked.
fn load_checked(
    store: &Store,
    lock: &Lock,
    options: &Options,
    selection: &Selection,
) -> Result<(Experiment, Cursor, Launcher, Option<Window>)> {
    // What needs every config, or every config of a kind, reads them all.
    let plain = options.names.is_none() && selection.shard.is_none() && !options.retry_failed;
    if let Some((experiment, cursor, window)) =
        plain.then(|| Window::open(store, lock)).transpose()?.flatten()
    {
        let launcher = Launcher::new(store, &experiment, &options.env, options.cache)?;
        let checks_all =
            launcher.reads_run_params() || (launcher.uses_devices() && options.devices.is_none());
        if !checks_all {
            check_request(&experiment, &launcher, options, selection)?;
            return Ok((experiment, cursor, launcher, Some(window)));
        }
    }
    let (experiment, cursor) = store.load(lock)?;
    let launcher = Launcher::new(store, &experiment, &options.env, options.cache)?;
    check_request(&experiment, &launcher, options, selection)?;
    Ok((experiment, cursor, launcher, None))
}

/// Refuse what a run could not do, before anything changes: names the
/// experiment lacks, configs a template cannot be filled for.
fn check_request(
    experiment: &Experiment,
    launcher: &Launcher,
    options: &Options,
    selection: &Selection,
) -> Result<()> {
    if let Some(names) = &options.names {
        crate::select::check_names(experiment, names)?;
    }
    check_templates(experiment, launcher, selection)?;
    check_devices(experiment, launcher, options, selection)
}

/// `{devices}` needs `--devices` (or a param of that name); `--devices`
/// overrides a `CUDA_VISIBLE_DEVICES` of the env, which is said.
fn check_devices(
    experiment: &Experiment,
    launcher: &Launcher,
    options: &Options,
    selection: &Selection,
) -> Result<()> {
    if options.devices.is_some() {
        let run_env = options
            .env
            .iter()
            .any(|entry| entry.split_once('=').is_some_and(|(k, _)| k == devices::CUDA_VAR));
        let own_env = experiment.env.contains_key(devices::CUDA_VAR);
        if run_env || own_env {
            let whose = if run_env { "--env" } else { "the experiment's env" };
            crate::report::warn_once(format!(
                "--devices overrides {} of {whose}: each config gets its own devices",
                devices::CUDA_VAR
            ));
        }
        return Ok(());
    }
    if !launcher.uses_devices() || experiment.defaults.contains_key(crate::template::DEVICES) {
        return Ok(());
    }
    let missing = |whose: &str| {
        Error::usage(format!(
            "{whose}the template uses {{devices}}, which exp-run --devices LIST fills; \
             give --devices (or the configs a param named devices)"
        ))
    };
    // A config that comes later (--follow), or none at all, has no param
    // of its own to stand in.
    if options.follow.is_some() {
        return Err(missing(""));
    }
    let mut selected = 0;
    for (name, entry) in experiment.configs.iter().filter(|(n, e)| selection.wants(n, e.status(), true)) {
        selected += 1;
        if !merged(&experiment.defaults, &entry.read()?.params).contains_key(crate::template::DEVICES) {
            return Err(missing(&format!("config {name}: ")));
        }
    }
    match selected {
        0 => Err(missing("")),
        _ => Ok(()),
    }
}

/// The signals that stop a run (SIGCHLD is watched too).
const STOP_SIGNALS: [i32; 3] =
    [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP];

/// Bad templates are bad input (exit 2, nothing changed), not a failure of
/// every config: check them against every config the run may start. exp-add
/// checked the experiment's own templates; this run's `--env` is new.
fn check_templates(experiment: &Experiment, launcher: &Launcher, selection: &Selection) -> Result<()> {
    if !launcher.reads_run_params() {
        return Ok(());
    }
    for (name, entry) in &experiment.configs {
        if selection.wants(name, entry.status(), true) {
            launcher.check(name, &merged(&experiment.defaults, &entry.read()?.params))?;
        }
    }
    Ok(())
}
