//! Starting one config's command: its folder and logs, its environment, its
//! own process group.

use crate::error::{Error, Kind, Result};
use crate::identity::merged;
use crate::model::{Experiment, Params};
use crate::provenance::Provenance;
use crate::run::devices::{Held, CUDA_VAR, DEVICES_VAR};
use crate::run::skeletons::Skeletons;
use crate::store::config_files::{
    ConfigFiles, CACHE, COMMAND, METRICS, PARAMS, PROVENANCE, RESULT, STDERR, STDOUT,
};
use crate::store::folder::{is_symlink_refusal, Folder};
use crate::store::Store;
use crate::template::{
    check_keys, field, is_builtin, param_variable, Builtins, CommandTemplate, Template, BUILTINS, DEVICES,
};
use crate::time::Timestamp;
use crate::values::display_value;
use indexmap::IndexMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What `EXP_CACHE_MODE` tells the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    Record,
    Replay,
    Off,
}

impl CacheMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::Record => "record",
            CacheMode::Replay => "replay",
            CacheMode::Off => "off",
        }
    }
}

/// Everything needed to turn a config into a process, parsed once per run.
#[derive(Debug)]
pub struct Launcher {
    command: CommandTemplate,
    /// The experiment's `env` then `--env`, later entries winning.
    env: Vec<(String, Template)>,
    cache: CacheMode,
    experiment_dir: PathBuf,
    /// Where commands run: the experiment's workdir, else exp-run's own.
    workdir: PathBuf,
    setup_env: Vec<(String, String)>,
    /// The runner's id, given to commands as `EXP_RUNNER`.
    runner: Option<String>,
    run_reads_params: bool,
    /// What each attempt's `provenance.json` says (a pool's runner only).
    provenance: Option<Provenance>,
    /// Config folders made ahead (a pool's runner only).
    skeletons: Option<Skeletons>,
}

impl Launcher {
    pub fn new(
        store: &Store,
        experiment: &Experiment,
        extra_env: &[String],
        cache: CacheMode,
    ) -> Result<Launcher> {
        let command = experiment.command.as_ref().ok_or_else(|| {
            Error::usage("this experiment has no command; create it with exp-init DIR -- CMD...")
        })?;
        let mut env = Vec::new();
        for (key, value) in &experiment.env {
            env.push((key.clone(), Template::parse(value).map_err(|e| e.context(format!("env {key}")))?));
        }
        let mut run_reads_params = false;
        for entry in extra_env {
            let (key, value) = crate::values::split_assignment("--env", entry)?;
            let template = Template::parse(value).map_err(|e| e.context(format!("--env {key}")))?;
            run_reads_params |= template.keys().any(|k| !is_builtin(k, &BUILTINS));
            env.push((key.to_string(), template));
        }
        let workdir = workdir_of(experiment)?;
        Ok(Launcher {
            command: CommandTemplate::parse_stored(command)?,
            env,
            cache,
            experiment_dir: store.dir().to_path_buf(),
            workdir,
            setup_env: Vec::new(),
            runner: None,
            run_reads_params,
            provenance: None,
            skeletons: None,
        })
    }

    /// Whether this run's `--env` templates read params, which exp-add could
    /// not check (it checked the command and the experiment's env).
    pub fn reads_run_params(&self) -> bool {
        self.run_reads_params
    }

    /// Whether the command or an env template uses `{devices}`.
    pub fn uses_devices(&self) -> bool {
        let env = self.env.iter().flat_map(|(_, template)| template.keys());
        self.command.keys().into_iter().chain(env).any(|key| field(key) == DEVICES)
    }

    /// Refuse a config that lacks a param the command or an `--env` template uses.
    pub fn check(&self, name: &str, params: &Params) -> Result<()> {
        let context = |what: &str| format!("config {name}: {what}");
        check_keys(self.command.keys(), params, &BUILTINS).map_err(|e| e.context(context("command")))?;
        for (key, template) in &self.env {
            check_keys(template.keys(), params, &BUILTINS)
                .map_err(|e| e.context(context(&format!("env {key}"))))?;
        }
        Ok(())
    }

    /// The argv of a config's command, as it would run.
    pub fn argv(
        &self,
        files: &ConfigFiles,
        name: &str,
        params: &Params,
        worker: usize,
        devices: Option<&str>,
    ) -> Result<Vec<String>> {
        self.command.render(params, &builtins(files, name, params, worker, devices))
    }

    /// Prepare the config's folder and start its command in its own process
    /// group, its output captured in the folder. `attempt` is 1-based. The
    /// command inherits the locks of its `devices`, which its
    /// `provenance.json` names.
    pub fn spawn(
        &self,
        store: &Store,
        experiment: &Experiment,
        name: &str,
        attempt: u32,
        worker: usize,
        devices: Option<&Held>,
    ) -> Result<Child, NotStarted> {
        let files = store.config_files(name);
        let Invocation { argv, env, params } = self
            .invocation(experiment, &files, name, attempt, worker, devices.map(Held::list))
            .map_err(NotStarted::Command)?;
        let provenance = self.provenance.as_ref().map(|provenance| {
            let started = experiment.configs[name].read().ok().and_then(|config| config.start_time);
            let tokens: Option<Vec<String>> =
                devices.map(|held| held.list().split(',').map(str::to_string).collect());
            provenance.render(&started.unwrap_or_else(Timestamp::now), &argv, tokens.as_deref(), &env)
        });
        let mut command = self.command(&argv, &env);
        if let Some(held) = devices {
            held.pass_to(&mut command);
        }
        let made = Made { skeletons: self.skeletons.as_ref(), provenance: provenance.as_deref() };
        let (stdout, stderr) =
            prepare(&files, name, attempt, &params, &argv, made).map_err(NotStarted::Runner)?;
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr).process_group(0);
        command.spawn().map_err(|err| {
            let hint = match err.kind() {
                std::io::ErrorKind::NotFound => "; exp-init --update -- CMD... fixes the command",
                _ => "",
            };
            let error = Error::state(format!("cannot run {:?}: {err}{hint}", argv[0]));
            // Out of files, processes or memory is the runner's problem;
            // a command that cannot be executed is the command's.
            match Kind::of_errno(err.raw_os_error()) {
                Kind::Resource => NotStarted::Runner(Error { kind: Kind::Resource, ..error }),
                _ => NotStarted::Command(error),
            }
        })
    }

    /// A config's argv and the variables exp sets for it (never the
    /// inherited environment), in the order they win: what `--setup`
    /// printed, then the experiment's env and `--env`, then exp's own
    /// (`--devices` over `CUDA_VISIBLE_DEVICES` from either).
    pub fn invocation(
        &self,
        experiment: &Experiment,
        files: &ConfigFiles,
        name: &str,
        attempt: u32,
        worker: usize,
        devices: Option<&str>,
    ) -> Result<Invocation> {
        let params = merged(&experiment.defaults, &experiment.configs[name].read()?.params);
        let argv = self.argv(files, name, &params, worker, devices)?;
        let mut env = IndexMap::new();
        let mut set = |key: &str, value: OsString| {
            // A later setting wins, in the place of the first.
            env.insert(key.to_string(), value);
        };
        for (key, value) in &self.setup_env {
            set(key, value.into());
        }
        if let Some(runner) = &self.runner {
            set(crate::runners::RUNNER_VAR, runner.into());
        }
        let builtins = builtins(files, name, &params, worker, devices);
        for (key, template) in &self.env {
            set(key, template.render_plain(&params, &builtins)?.into());
        }
        if let Some(devices) = devices {
            set(CUDA_VAR, devices.into());
            set(DEVICES_VAR, devices.into());
        }
        set("EXP_DIR", self.experiment_dir.clone().into());
        set("EXP_NAME", name.into());
        set("EXP_CONFIG_DIR", files.dir.clone().into());
        set("EXP_PARAMS", serde_json::Value::Object(params.clone()).to_string().into());
        set("EXP_RESULT", files.result().into());
        set("EXP_METRICS", files.metrics().into());
        set("EXP_CACHE_DIR", files.cache().into());
        set("EXP_CACHE_MODE", self.cache.as_str().into());
        set("EXP_ATTEMPT", attempt.to_string().into());
        set("EXP_WORKER", worker.to_string().into());
        set("EXP_STATUS_FILE", files.status_file().into());
        for (key, value) in &params {
            if !matches!(value, serde_json::Value::Array(_) | serde_json::Value::Object(_)) {
                set(&param_variable(key), display_value(value).into());
            }
        }
        Ok(Invocation { argv, env, params })
    }

    /// A process for `argv` with `env` over the inherited environment, in
    /// the workdir; stdio is left to the caller.
    pub fn command(&self, argv: &[String], env: &IndexMap<String, OsString>) -> Command {
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).current_dir(&self.workdir).envs(env);
        command
    }

    /// Commands are run by runner `id`: they get it as `EXP_RUNNER`, so its
    /// watchdog can find them (and their children) if it dies.
    pub fn set_runner(&mut self, id: &str) {
        self.runner = Some(id.to_string());
    }

    /// Where commands run.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Config folders are taken from `skeletons` while it has some ready.
    pub fn set_skeletons(&mut self, skeletons: Option<Skeletons>) {
        self.skeletons = skeletons;
    }

    /// The files a config's folder starts with (a skeleton's).
    pub fn first_files(&self) -> Vec<&'static str> {
        let mut files = vec![PARAMS, COMMAND, STDOUT, STDERR];
        if self.provenance.is_some() {
            files.push(PROVENANCE);
        }
        files
    }

    /// Each attempt started from now on writes `provenance.json`.
    pub fn set_provenance(&mut self, provenance: Provenance) {
        self.provenance = Some(provenance);
    }

    /// Before a claim: read the git facts again if HEAD or the index
    /// changed; the commit the next attempt starts from (None outside git).
    pub fn refresh_provenance(&mut self) -> Result<Option<String>> {
        let Some(provenance) = &mut self.provenance else { return Ok(None) };
        provenance.refresh()?;
        Ok(provenance.commit().map(str::to_string))
    }

    /// Values printed by `--setup`, given to every command (the experiment's
    /// env and `--env` win over them).
    pub fn set_setup_env(&mut self, env: Vec<(String, String)>) {
        self.setup_env = env;
    }
}

/// Where an experiment's commands run: its workdir, else exp-run's own
/// working directory; a workdir that is gone is exit 2.
pub fn workdir_of(experiment: &Experiment) -> Result<PathBuf> {
    match &experiment.workdir {
        Some(dir) if !dir.is_dir() => Err(Error::usage(format!(
            "the experiment's workdir {} is not a directory; exp-init --update --workdir DIR moves it",
            dir.display()
        ))),
        Some(dir) => Ok(dir.clone()),
        None => std::env::current_dir()
            .map_err(|err| Error::state(format!("cannot read the working directory: {err}"))),
    }
}

/// Why a config's command did not start.
#[derive(Debug)]
pub enum NotStarted {
    /// The runner could not prepare its folder or files, or is out of open
    /// files, processes or memory: no fault of the config.
    Runner(Error),
    /// Its own command cannot start: a template it cannot fill, a program
    /// that is not there or cannot be executed.
    Command(Error),
}

/// What a config's command is made of.
pub struct Invocation {
    /// The argv after substitution.
    pub argv: Vec<String>,
    /// The variables exp sets, each once, in order (paths byte-exact).
    pub env: IndexMap<String, OsString>,
    /// The params merged over the defaults.
    pub params: Params,
}

fn json_text(value: &serde_json::Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("JSON values serialize");
    text.push(b'\n');
    text
}

/// The values of the builtin placeholders; `{devices}` only with
/// `--devices`, and a param named `devices` wins over it.
fn builtins(
    files: &ConfigFiles,
    name: &str,
    params: &Params,
    worker: usize,
    devices: Option<&str>,
) -> Builtins {
    let mut builtins = Builtins::from([
        ("name", name.to_string()),
        ("dir", files.dir.display().to_string()),
        ("worker", worker.to_string()),
    ]);
    if let Some(devices) = devices.filter(|_| !params.contains_key(DEVICES)) {
        builtins.insert(DEVICES, devices.to_string());
    }
    builtins
}

/// The config's folder, ready for attempt `attempt`, telling its own story
/// even if the command never starts (`params.json`, `command.json`,
/// `provenance.json`), and the command's stdout and stderr in it.
/// What a config's folder is made from: a skeleton made ahead, if one is
/// ready, and the attempt's `provenance.json`.
struct Made<'a> {
    skeletons: Option<&'a Skeletons>,
    provenance: Option<&'a [u8]>,
}

fn prepare(
    files: &ConfigFiles,
    name: &str,
    attempt: u32,
    params: &Params,
    argv: &[String],
    made: Made,
) -> Result<(fs::File, fs::File)> {
    let (folder, placed) = prepare_folder(files, name, attempt, made.skeletons)?;
    let write = |file: &str, contents: &[u8]| write_file(&folder, file, contents, placed);
    write(PARAMS, &json_text(&serde_json::Value::Object(params.clone())))?;
    write(COMMAND, &json_text(&serde_json::json!(argv)))?;
    if let Some(text) = made.provenance {
        write(PROVENANCE, text)?;
    }
    Ok((create_log(&folder, STDOUT, placed)?, create_log(&folder, STDERR, placed)?))
}

/// The config's folder, ready for attempt `attempt`, opened without
/// following a symlink at any component (one in its place is refused, exit
/// 3: nothing is written through it). A folder found at a config's first
/// run was left by an earlier config of this name (removed, its folder
/// kept): it is moved aside whole, never taken as this one's. Later
/// attempts keep the files of the attempt before. Whether it is a folder
/// made ahead, whose files are there, empty.
fn prepare_folder(
    files: &ConfigFiles,
    name: &str,
    attempt: u32,
    skeletons: Option<&Skeletons>,
) -> Result<(Folder, bool)> {
    let configs = files.open_configs().map_err(|err| refused(&files.dir.with_file_name(""), err))?;
    // A first attempt takes a folder made ahead, if one is ready.
    if attempt == 1 && skeletons.is_some_and(|skeletons| skeletons.place(&configs, name)) {
        return Ok((configs.sub(name).map_err(|err| refused(&files.dir, err))?, true));
    }
    let (mut folder, made) = configs.sub_made(name).map_err(|err| refused(&files.dir, err))?;
    if !made {
        if attempt == 1 {
            let aside = format!(".earlier-{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            configs
                .rename(name, &configs, &aside)
                .map_err(|err| Error::io("cannot move aside", &files.dir, err))?;
            folder = configs.sub_made(name).map_err(|err| refused(&files.dir, err))?.0;
        } else {
            keep_earlier_attempt(&folder, attempt);
        }
    }
    folder.ensure_sub(CACHE).map_err(|err| refused(&files.cache(), err))?;
    Ok((folder, false))
}

/// An error preparing a config's folder: a symlink (or a file) where a
/// folder must be is refused like a folder that cannot be written.
fn refused(path: &Path, err: std::io::Error) -> Error {
    if is_symlink_refusal(&err) || err.raw_os_error() == Some(nix::libc::ELOOP) {
        let why = crate::store::config_files::refusal(path);
        return Error::storage(format!("{}: {why}; nothing is written through it", path.display()));
    }
    Error::io("cannot create", path, err)
}

/// Logs and results of earlier attempts are kept: `stdout.log` of attempt N
/// becomes `stdout.N.log` when attempt N+1 starts (likewise stderr, result,
/// metrics, provenance).
fn keep_earlier_attempt(folder: &Folder, attempt: u32) {
    let previous = attempt.saturating_sub(1).max(1);
    for file in [STDOUT, STDERR, RESULT, METRICS, PROVENANCE] {
        if folder.has(file) {
            let mut n = previous;
            while folder.has(&ConfigFiles::of_attempt(file, n)) {
                n += 1;
            }
            let _ = folder.rename(file, folder, &ConfigFiles::of_attempt(file, n));
        }
    }
}

fn write_file(folder: &Folder, name: &str, contents: &[u8], made: bool) -> Result<()> {
    use std::io::Write;
    create_log(folder, name, made)?
        .write_all(contents)
        .map_err(|err| Error::io("cannot write", &folder.join(name), err))
}

/// A new file of the config's folder (`made`: made ahead, empty, opened
/// as it is).
fn create_log(folder: &Folder, name: &str, made: bool) -> Result<fs::File> {
    let opened = match made {
        true => folder.open_made(name).or_else(|_| folder.create_fresh(name)),
        false => folder.create_fresh(name),
    };
    opened.map_err(|err| {
        let path = folder.join(name);
        match err.raw_os_error() {
            // A FIFO with no reader refuses a writer that will not wait.
            Some(nix::libc::ENXIO) => Error::state(format!("{} is not a regular file", path.display())),
            Some(nix::libc::ELOOP) => refused(&path, err),
            _ if err.kind() == std::io::ErrorKind::Other => {
                Error::state(format!("{} is not a regular file", path.display()))
            }
            _ => Error::io("cannot create", &path, err),
        }
    })
}
