//! `exp-init`: create an experiment, confirm an identical one exists, or
//! (`--update`) replace the command, env, description or workdir of an
//! existing one while keeping its configs.

use crate::error::{Error, Result};
use crate::identity::{canonical, merged};
use crate::model::{Command, Experiment, Params, Status};
use crate::report::warn;
use crate::runners::{Liveness, DEFAULT_STALE_AFTER};
use crate::store::Store;
use crate::template::{check_keys, field, is_builtin, CommandTemplate, Template, BUILTINS, DEVICES};
use crate::values::{parse_defaults, split_assignment};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};

/// The definition of an experiment, as `exp-init` is given it.
#[derive(Debug, Clone, Default)]
pub struct Definition {
    pub name: Option<String>,
    pub description: Option<String>,
    pub naming: Option<String>,
    pub command: Option<Command>,
    /// `KEY=VALUE` strings.
    pub defaults: Vec<String>,
    /// `KEY=VALUE` strings.
    pub env: Vec<String>,
    /// `--workdir`; the current directory when not given.
    pub workdir: Option<PathBuf>,
    /// `--update`: change an existing experiment.
    pub update: bool,
    /// `--require-result` (true) or `--no-require-result` (false).
    pub require_result: Option<bool>,
}

pub enum Outcome {
    Created,
    AlreadyThere,
    /// `--update`: what changed, and how many done configs ran under the
    /// command that was replaced.
    Updated {
        changed: Vec<&'static str>,
        done_under_old_command: usize,
    },
}

pub fn init(dir: &Path, definition: &Definition) -> Result<Outcome> {
    let wanted = build(definition)?;
    if definition.update {
        return update(dir, definition, wanted);
    }
    let given = definition.workdir.is_some();
    if dir.join(crate::store::STATE_FILE).exists() {
        let (existing, _) = Store::open(dir)?.read()?;
        return compare(dir, &existing, &wanted, given);
    }
    match Store::create(dir, &mut wanted.clone())? {
        None => {
            warn_if_program_missing(&wanted);
            Ok(Outcome::Created)
        }
        // Another exp-init got there first (e.g. every task of a Slurm array).
        Some(existing) => compare(dir, &existing, &wanted, given),
    }
}

/// The same definition again is a no-op. Run from another directory
/// without `--workdir`, it is still the same experiment, whose commands
/// run in its own workdir.
fn compare(dir: &Path, existing: &Experiment, wanted: &Experiment, workdir_given: bool) -> Result<Outcome> {
    let fields = differences(existing, wanted, workdir_given);
    let Some(field) = fields.first() else {
        if let Some(workdir) = existing.workdir.as_ref().filter(|w| Some(*w) != wanted.workdir.as_ref()) {
            crate::report::note(format!("its commands run in {}", workdir.display()));
        }
        return Ok(Outcome::AlreadyThere);
    };
    let updatable = fields.iter().all(|f| UPDATABLE.contains(f));
    let hint =
        if updatable { "; --update replaces it and keeps the configs" } else { "; use a new directory" };
    Err(Error::usage(format!("{} is already an experiment with a different {field}{hint}", dir.display())))
}

/// What `--update` may replace: nothing that makes a config's identity or name.
const UPDATABLE: [&str; 6] = ["--name", "--description", "command", "--env", "--workdir", "--require-result"];

/// Replace what the definition gives of the updatable fields, under the
/// lock, with no runner active; every config must fit the new templates.
fn update(dir: &Path, definition: &Definition, wanted: Experiment) -> Result<Outcome> {
    let mut store = Store::open(dir)?;
    let liveness = Liveness::new(&store, DEFAULT_STALE_AFTER);
    let lock = store.lock()?;
    if let Some(other) = liveness.active_runners(None).first() {
        return Err(Error::busy(format!(
            "a runner is active (pid {} on {}); stop it before --update",
            other.pid, other.host
        )));
    }
    let (mut experiment, _) = store.load(&lock)?;
    let fixed = differences(&experiment, &wanted, true).into_iter().find(|field| match *field {
        "--naming" => definition.naming.is_some(),
        "--default" => !definition.defaults.is_empty(),
        _ => false,
    });
    if let Some(field) = fixed {
        return Err(Error::usage(format!(
            "--update cannot change {field}: configs' names and identities come from it; use a new directory"
        )));
    }
    let mut changed = Vec::new();
    let mut done_under_old_command = 0;
    if definition.command.is_some() && wanted.command != experiment.command {
        done_under_old_command = experiment.configs.values().filter(|c| c.status() == Status::Done).count();
        experiment.command = wanted.command;
        changed.push("command");
    }
    if !definition.env.is_empty() && wanted.env != experiment.env {
        experiment.env = wanted.env;
        changed.push("--env");
    }
    if definition.description.is_some() && wanted.description != experiment.description {
        experiment.description = wanted.description;
        changed.push("--description");
    }
    if definition.name.is_some() && wanted.name != experiment.name {
        experiment.name = wanted.name;
        changed.push("--name");
    }
    if definition.workdir.is_some() && wanted.workdir != experiment.workdir {
        experiment.workdir = wanted.workdir;
        changed.push("--workdir");
    }
    if let Some(required) = definition.require_result.filter(|&r| r != experiment.require_result()) {
        experiment.set_require_result(required);
        changed.push(if required { "--require-result" } else { "--no-require-result" });
    }
    check_configs_fit(&experiment)?;
    warn_if_program_missing(&experiment);
    if !changed.is_empty() {
        store.fold(&lock, &mut experiment)?;
    }
    Ok(Outcome::Updated { changed, done_under_old_command })
}

/// Every config must have the params the new command and env templates use.
fn check_configs_fit(experiment: &Experiment) -> Result<()> {
    let command = experiment.command.as_ref().map(CommandTemplate::parse_stored).transpose()?;
    let env = experiment.env.values().map(|v| Template::parse(v)).collect::<Result<Vec<_>>>()?;
    let mut keys: Vec<&str> = command.as_ref().map(CommandTemplate::keys).unwrap_or_default();
    keys.extend(env.iter().flat_map(Template::keys));
    for (name, config) in &experiment.configs {
        check_keys(keys.iter().copied(), &merged(&experiment.defaults, &config.read()?.params), &BUILTINS)
            .map_err(|err| err.context(format!("config {name}")))?;
    }
    Ok(())
}

/// Parse and validate every part of the definition before touching disk.
fn build(definition: &Definition) -> Result<Experiment> {
    let command = match &definition.command {
        Some(command) => Some(command.clone()),
        // --update may leave the command as it is.
        None if definition.update => None,
        None => return Err(Error::usage("no command: give one after `--`, or --shell 'CMD'")),
    };
    if let Some(command) = &command {
        if matches!(command, Command::Argv(argv) if argv.is_empty())
            || matches!(command, Command::Shell(line) if line.trim().is_empty())
        {
            return Err(Error::usage("the command is empty"));
        }
        CommandTemplate::parse(command)
            .and_then(|command| command.check_specs())
            .map_err(|err| err.context("command"))?;
    }
    if let Some(naming) = &definition.naming {
        let template = Template::parse(naming)
            .and_then(|template| template.check_specs().map(|()| template))
            .map_err(|err| err.context("--naming"))?;
        // A param named devices is a param here: exp-run's {devices} never names a config.
        let builtin = template
            .keys()
            .find(|key| is_builtin(field(key), &BUILTINS) && field(key) != DEVICES)
            .map(str::to_string);
        if let Some(key) = builtin {
            return Err(Error::usage(format!("--naming {naming:?}: {{{key}}} is not available in names")));
        }
    }
    let mut env = IndexMap::new();
    for entry in &definition.env {
        let (key, value) = split_assignment("--env", entry)?;
        Template::parse(value)
            .and_then(|template| template.check_specs())
            .map_err(|err| err.context(format!("--env {key}")))?;
        env.insert(key.to_string(), value.to_string());
    }
    let workdir = match &definition.workdir {
        Some(dir) => std::path::absolute(dir)
            .ok()
            .filter(|dir| dir.is_dir())
            .ok_or_else(|| Error::usage(format!("--workdir {}: not a directory", dir.display())))?,
        None => std::env::current_dir()
            .map_err(|err| Error::usage(format!("cannot read the working directory: {err}")))?,
    };
    let mut experiment = Experiment {
        name: definition.name.clone(),
        description: definition.description.clone(),
        command,
        naming: definition.naming.clone(),
        defaults: parse_defaults(&Params::new(), &definition.defaults)?,
        env,
        workdir: Some(workdir),
        ..Experiment::default()
    };
    experiment.set_require_result(definition.require_result == Some(true));
    Ok(experiment)
}

/// Which parts of the definition differ. Defaults added later by `exp-add`
/// are allowed: the wanted defaults need only agree with the existing ones.
fn differences(existing: &Experiment, wanted: &Experiment, workdir_given: bool) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if existing.name != wanted.name {
        fields.push("--name");
    }
    if existing.description != wanted.description {
        fields.push("--description");
    }
    if existing.command != wanted.command {
        fields.push("command");
    }
    if existing.naming != wanted.naming {
        fields.push("--naming");
    }
    if existing.env != wanted.env {
        fields.push("--env");
    }
    // An experiment made before workdirs existed runs where exp-run runs.
    if workdir_given && existing.workdir.is_some() && existing.workdir != wanted.workdir {
        fields.push("--workdir");
    }
    let defaults_agree = wanted
        .defaults
        .iter()
        .all(|(key, value)| existing.defaults.get(key).map(canonical) == Some(canonical(value)));
    if !defaults_agree {
        fields.push("--default");
    }
    // Asked for, it must be there; not asked for, either is the same experiment.
    if wanted.require_result() && !existing.require_result() {
        fields.push("--require-result");
    }
    fields
}

/// Shell words that are not programs on PATH.
const SHELL_WORDS: [&str; 48] = [
    "cd", "export", "exec", "for", "if", "while", "until", "case", "set", "trap", "test", "[", "echo",
    "printf", "true", "false", ":", ".", "source", "eval", "read", "{", "(", "!", "time", "command",
    "builtin", "exit", "return", "unset", "local", "let", "wait", "shift", "ulimit", "umask", "alias",
    "readonly", "declare", "typeset", "pwd", "type", "hash", "kill", "getopts", "select", "function",
    "coproc",
];

/// A typo in the program (`pyhton3`) would fail every config: warn now,
/// when exp is sure which program runs.
fn warn_if_program_missing(experiment: &Experiment) {
    let program = match &experiment.command {
        Some(Command::Argv(argv)) => argv.first().map(String::as_str),
        Some(Command::Shell(line)) => first_program(line),
        None => None,
    };
    let Some(program) =
        program.filter(|p| !p.contains(['{', '$', '`', '"', '\'']) && !SHELL_WORDS.contains(p))
    else {
        return;
    };
    let workdir = experiment.workdir.clone().unwrap_or_default();
    if !program_exists(program, &workdir) {
        warn(format!(
            "program {program:?} is not found {}; every config would fail",
            if program.contains('/') {
                format!("under {}", workdir.display())
            } else {
                "on PATH".to_string()
            }
        ));
    }
}

/// The program a shell line surely runs first: its first word after plain
/// `NAME=value` assignments, when that word is plain text (no quote,
/// expansion, brace or glob) ending where a word ends. None when unsure.
fn first_program(line: &str) -> Option<&str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._/+-@%:,=".contains(c);
    let mut rest = line.trim_start_matches([' ', '\t']);
    loop {
        let end = rest.find(|c: char| !plain(c)).unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        let ends = after.chars().next().is_none_or(|c| " \t\n;|&".contains(c));
        if word.is_empty() || !ends {
            return None;
        }
        match word.split_once('=') {
            Some((name, _)) if is_variable(name) => rest = after.trim_start_matches([' ', '\t']),
            Some(_) => return None,
            None => return Some(word),
        }
    }
}

fn is_variable(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn program_exists(program: &str, workdir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let runnable =
        |path: &Path| path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        return runnable(&workdir.join(program));
    }
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| runnable(&workdir.join(dir).join(program)))
    })
}

#[cfg(test)]
mod tests {
    use super::first_program;

    #[test]
    fn the_first_program_of_a_shell_line_only_when_sure() {
        assert_eq!(first_program("python3 x.py {lr}"), Some("python3"));
        assert_eq!(first_program("A=1 B=x/y ./run.sh|tee"), Some("./run.sh"));
        assert_eq!(first_program("prog"), Some("prog"));
        for unsure in [
            "start=$(date +%s.%N); python x.py",
            "\"prog\" x",
            "A=\"a b\" prog",
            "A=1; prog",
            "p$x",
            "{x} y",
            "",
            "a=1",
        ] {
            assert_eq!(first_program(unsure), None, "{unsure:?}");
        }
    }
}
