//! Starting one config's command: its folder and logs, its environment, its
//! own process group.

use crate::error::{Error, Kind, Result};
use crate::identity::merged;
use crate::model::{Experiment, Params};
use crate::store::atomic::{ensure_dir, no_follow, regular};
use crate::store::config_files::ConfigFiles;
use crate::store::Store;
use crate::template::{check_keys, is_builtin, Builtins, CommandTemplate, Template, BUILTINS};
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
        if let Some(dir) = experiment.workdir.as_ref().filter(|dir| !dir.is_dir()) {
            return Err(Error::usage(format!(
                "the experiment's workdir {} is not a directory; exp-init --update --workdir DIR moves it",
                dir.display()
            )));
        }
        Ok(Launcher {
            command: CommandTemplate::parse(command)?,
            env,
            cache,
            experiment_dir: store.dir().to_path_buf(),
            workdir: match &experiment.workdir {
                Some(dir) => dir.clone(),
                None => std::env::current_dir()
                    .map_err(|err| Error::state(format!("cannot read the working directory: {err}")))?,
            },
            setup_env: Vec::new(),
            runner: None,
            run_reads_params,
        })
    }

    /// Whether this run's `--env` templates read params, which exp-add could
    /// not check (it checked the command and the experiment's env).
    pub fn reads_run_params(&self) -> bool {
        self.run_reads_params
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
    ) -> Result<Vec<String>> {
        self.command.render(params, &builtins(files, name, worker))
    }

    /// Prepare the config's folder and start its command in its own process
    /// group, its output captured in the folder. `attempt` is 1-based.
    pub fn spawn(
        &self,
        store: &Store,
        experiment: &Experiment,
        name: &str,
        attempt: u32,
        worker: usize,
    ) -> Result<Child> {
        let files = store.config_files(name);
        // A folder found at a config's first run was left by an earlier
        // config of this name (removed, its folder kept): it is moved aside
        // whole, never taken as this one's. Later attempts keep the files
        // of the attempt before.
        if !make_dir(&files.dir)? {
            if attempt == 1 {
                let aside = store
                    .configs_dir()
                    .join(format!(".earlier-{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
                fs::rename(&files.dir, &aside)
                    .map_err(|err| Error::io("cannot move aside", &files.dir, err))?;
                make_dir(&files.dir)?;
            } else {
                keep_earlier_attempt(&files, attempt);
            }
        }
        make_dir(&files.cache())?;
        let Invocation { argv, env, params } = self.invocation(experiment, &files, name, attempt, worker)?;
        let mut command = self.command(&argv, &env);
        // The folder tells its own story, even if the command never starts.
        write_file(&files.params(), &json_text(&serde_json::Value::Object(params)))?;
        write_file(&files.command(), &json_text(&serde_json::json!(argv)))?;
        let stdout = create_log(&files.stdout())?;
        let stderr = create_log(&files.stderr())?;
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
                Kind::Resource => Error { kind: Kind::Resource, ..error },
                _ => error,
            }
        })
    }

    /// A config's argv and the variables exp sets for it (never the
    /// inherited environment), in the order they win: what `--setup`
    /// printed, then the experiment's env and `--env`, then exp's own.
    pub fn invocation(
        &self,
        experiment: &Experiment,
        files: &ConfigFiles,
        name: &str,
        attempt: u32,
        worker: usize,
    ) -> Result<Invocation> {
        let params = merged(&experiment.defaults, &experiment.configs[name].read()?.params);
        let argv = self.argv(files, name, &params, worker)?;
        let mut env = IndexMap::new();
        let mut set = |key: &str, value: OsString| {
            // A later setting wins, in the place of the first.
            env.insert(key.to_string(), value);
        };
        for (key, value) in &self.setup_env {
            set(key, value.into());
        }
        if let Some(runner) = &self.runner {
            set(crate::run::watchdog::RUNNER_VAR, runner.into());
        }
        let builtins = builtins(files, name, worker);
        for (key, template) in &self.env {
            set(key, template.render_plain(&params, &builtins)?.into());
        }
        set("EXP_DIR", self.experiment_dir.clone().into());
        set("EXP_NAME", name.into());
        set("EXP_CONFIG_DIR", files.dir.clone().into());
        set("EXP_PARAMS", serde_json::Value::Object(params.clone()).to_string().into());
        set("EXP_RESULT", files.result().into());
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

    /// Values printed by `--setup`, given to every command (the experiment's
    /// env and `--env` win over them).
    pub fn set_setup_env(&mut self, env: Vec<(String, String)>) {
        self.setup_env = env;
    }
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

fn builtins(files: &ConfigFiles, name: &str, worker: usize) -> Builtins {
    Builtins::from([
        ("name", name.to_string()),
        ("dir", files.dir.display().to_string()),
        ("worker", worker.to_string()),
    ])
}

/// `EXP_PARAM_<KEY>`: the key upper-cased, other characters as `_`.
pub fn param_variable(key: &str) -> String {
    let suffix: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("EXP_PARAM_{suffix}")
}

/// Logs and results of earlier attempts are kept: `stdout.log` of attempt N
/// becomes `stdout.N.log` when attempt N+1 starts (likewise stderr, result).
fn keep_earlier_attempt(files: &ConfigFiles, attempt: u32) {
    let previous = attempt.saturating_sub(1).max(1);
    for path in [files.stdout(), files.stderr(), files.result()] {
        if fs::symlink_metadata(&path).is_ok() {
            let mut n = previous;
            while fs::symlink_metadata(files.of_attempt(&path, n)).is_ok() {
                n += 1;
            }
            let _ = fs::rename(&path, files.of_attempt(&path, n));
        }
    }
}

/// Create a directory; one that exists must be a real directory, not a
/// symlink. Whether it was made (rather than found).
fn make_dir(path: &Path) -> Result<bool> {
    match fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => ensure_dir(path).map(|()| false),
        Err(err) => Err(Error::io("cannot create", path, err)),
    }
}

fn write_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    create_log(path)?.write_all(contents).map_err(|err| Error::io("cannot write", path, err))
}

fn create_log(path: &Path) -> Result<fs::File> {
    let file = no_follow().write(true).create(true).truncate(true).open(path).map_err(|err| {
        // A FIFO with no reader refuses a writer that will not wait.
        match err.raw_os_error() {
            Some(nix::libc::ENXIO) => Error::state(format!("{} is not a regular file", path.display())),
            _ => Error::io("cannot create", path, err),
        }
    })?;
    regular(file, path)
}
