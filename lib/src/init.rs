//! `exp-init`: create an experiment, or confirm an identical one exists.

use crate::error::{Error, Result};
use crate::identity::canonical;
use crate::model::{Command, Experiment, Params};
use crate::store::Store;
use crate::template::{CommandTemplate, Template};
use crate::values::{parse_value, split_assignment};
use indexmap::IndexMap;
use std::path::Path;

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
}

pub enum Outcome {
    Created,
    AlreadyThere,
}

pub fn init(dir: &Path, definition: &Definition) -> Result<Outcome> {
    let wanted = build(definition)?;
    if dir.join(crate::store::STATE_FILE).exists() {
        let (existing, _) = Store::open(dir)?.read()?;
        return compare(dir, &existing, &wanted);
    }
    match Store::create(dir, &mut wanted.clone())? {
        None => Ok(Outcome::Created),
        // Another exp-init got there first (e.g. every task of a Slurm array).
        Some(existing) => compare(dir, &existing, &wanted),
    }
}

fn compare(dir: &Path, existing: &Experiment, wanted: &Experiment) -> Result<Outcome> {
    match differences(existing, wanted).first() {
        None => Ok(Outcome::AlreadyThere),
        Some(field) => Err(Error::usage(format!(
            "{} is already an experiment with a different {field}; use a new directory",
            dir.display()
        ))),
    }
}

/// Parse and validate every part of the definition before touching disk.
fn build(definition: &Definition) -> Result<Experiment> {
    let command = definition
        .command
        .clone()
        .ok_or_else(|| Error::usage("no command: give one after `--`, or --shell 'CMD'"))?;
    if matches!(&command, Command::Argv(argv) if argv.is_empty())
        || matches!(&command, Command::Shell(line) if line.trim().is_empty())
    {
        return Err(Error::usage("the command is empty"));
    }
    CommandTemplate::parse(&command).map_err(|err| err.context("command"))?;
    if let Some(naming) = &definition.naming {
        let template = Template::parse(naming).map_err(|err| err.context("--naming"))?;
        let builtin = template.keys().find(|key| crate::template::BUILTINS.contains(key)).map(str::to_string);
        if let Some(key) = builtin {
            return Err(Error::usage(format!("--naming {naming:?}: {{{key}}} is not available in names")));
        }
    }
    let mut env = IndexMap::new();
    for entry in &definition.env {
        let (key, value) = split_assignment("--env", entry)?;
        Template::parse(value).map_err(|err| err.context(format!("--env {key}")))?;
        env.insert(key.to_string(), value.to_string());
    }
    Ok(Experiment {
        name: definition.name.clone(),
        description: definition.description.clone(),
        command: Some(command),
        naming: definition.naming.clone(),
        defaults: parse_defaults(&Params::new(), &definition.defaults)?,
        env,
        ..Experiment::default()
    })
}

/// Add `KEY=VALUE` defaults to `existing`. A default may be added, never changed.
pub fn parse_defaults(existing: &Params, entries: &[String]) -> Result<Params> {
    let mut defaults = existing.clone();
    for entry in entries {
        let (key, text) = split_assignment("--default", entry)?;
        let value = parse_value(text);
        match defaults.get(key) {
            Some(old) if canonical(old) != canonical(&value) => {
                return Err(Error::usage(format!(
                    "--default {entry:?}: {key} is already {old}; a default may be added, never changed"
                )))
            }
            // The same value again (perhaps written `0.0` for `0`) keeps the old text.
            Some(_) => {}
            None => {
                defaults.insert(key.to_string(), value);
            }
        }
    }
    Ok(defaults)
}

/// Which parts of the definition differ. Defaults added later by `exp-add`
/// are allowed: the wanted defaults need only agree with the existing ones.
fn differences(existing: &Experiment, wanted: &Experiment) -> Vec<&'static str> {
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
    let defaults_agree = wanted
        .defaults
        .iter()
        .all(|(key, value)| existing.defaults.get(key).map(canonical) == Some(canonical(value)));
    if !defaults_agree {
        fields.push("--default");
    }
    fields
}
