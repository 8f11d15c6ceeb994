//! `provenance.json`: where, by whom and from which code each attempt of a config ran, written beside `params.json` before its command starts.
//!
//! Its fields, in this order: `exp_version`, `host`, `user`, `runner`,
//! `started` (the attempt's start), `workdir`, `argv` (the command as it
//! ran), `devices` (the tokens of `--devices` it held, null without),
//! `slurm` (`job_id`, `array_job_id`, `array_task_id`, `node` from the
//! `SLURM_*` variables, each null when unset; null outside Slurm), `git`
//! (null outside a git work tree, else `commit`, `branch` (null when HEAD
//! is detached), `dirty` (tracked files differ from HEAD), `untracked` (a
//! count), `patch`: the sha256 of `git diff HEAD --no-color --no-ext-diff
//! --binary`, null when clean, its text stored once in
//! `DIR/patches/SHA.patch`), and `env`: the variables of the command's
//! environment named by `--record-env GLOB` (none by default).
//!
//! It is written once per attempt, so the runner does the work once: what
//! every attempt shares is rendered when the runner starts, the git part
//! when the git facts are read (at the start, and again only when HEAD or
//! the index changes: [`crate::git::Watched`]); an attempt adds its start,
//! its argv and its devices, and the file is written in one call.

use crate::error::{Error, Result};
use crate::git::{Facts, NoRepo, Repo, Watched};
use crate::model::Config;
use crate::store::config_files::PROVENANCE;
use crate::store::folder::Folder;
use crate::store::Store;
use crate::time::Timestamp;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The folder of the experiment that holds the patches, `DIR/patches`.
pub const PATCHES: &str = "patches";

/// The Slurm variables recorded, by field.
const SLURM: [(&str, &str); 4] = [
    ("job_id", "SLURM_JOB_ID"),
    ("array_job_id", "SLURM_ARRAY_JOB_ID"),
    ("array_task_id", "SLURM_ARRAY_TASK_ID"),
    ("node", "SLURMD_NODENAME"),
];

/// What a runner writes in each attempt's `provenance.json`.
#[derive(Debug)]
pub struct Provenance {
    experiment_dir: PathBuf,
    /// `exp_version`, `host`, `user`, `runner`, rendered.
    head: String,
    /// `workdir`, rendered.
    workdir: String,
    /// `slurm`, rendered.
    slurm: String,
    git: Option<Watched>,
    /// `git`, rendered from the facts last read.
    git_text: String,
    /// `--record-env` patterns.
    patterns: Vec<String>,
    /// The runner's own variables that the patterns match.
    inherited: BTreeMap<String, String>,
}

impl Provenance {
    /// The provenance of runner `runner` whose commands run in `workdir`:
    /// its constant part rendered, the git facts read (and a patch stored,
    /// when the tree is dirty), the runner's variables matched by
    /// `record_env` taken (a pattern that matches everything is warned about).
    pub fn new(
        experiment_dir: &Path,
        workdir: &Path,
        runner: &str,
        record_env: &[String],
    ) -> Result<Provenance> {
        check_patterns(record_env)?;
        if record_env.iter().any(|pattern| matches_everything(pattern)) {
            crate::report::warn(
                "--record-env '*' records every variable of the environment, secrets too (tokens, passwords), \
                 in each provenance.json; name the ones you need (--record-env 'CUDA_*')",
            );
        }
        let mut head = String::from("{\n");
        field(&mut head, "exp_version", &env!("CARGO_PKG_VERSION"));
        field(&mut head, "host", &crate::host::hostname());
        field(&mut head, "user", &user());
        field(&mut head, "runner", &runner);
        let mut workdir_text = String::new();
        field(&mut workdir_text, "workdir", &workdir.to_string_lossy());
        let mut slurm = String::new();
        field(&mut slurm, "slurm", &slurm_ids(|name| std::env::var_os(name)));
        let inherited = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value)))
            .filter(|(key, _)| matches_any(record_env, key))
            .map(|(key, value)| (key, value.to_string_lossy().into_owned()))
            .collect();
        let git = match Repo::find(workdir) {
            Ok(repo) => Some(Watched::new(repo)),
            Err(NoRepo::Outside | NoRepo::NoGit(_)) => None,
        };
        let mut provenance = Provenance {
            experiment_dir: experiment_dir.to_path_buf(),
            head,
            workdir: workdir_text,
            slurm,
            git,
            git_text: String::new(),
            patterns: record_env.to_vec(),
            inherited,
        };
        provenance.facts_read()?;
        Ok(provenance)
    }

    /// Read the git facts again if HEAD or the index changed since (a few
    /// `stat` calls when nothing did).
    pub fn refresh(&mut self) -> Result<()> {
        match self.git.as_mut().is_some_and(Watched::refresh) {
            true => self.facts_read(),
            false => Ok(()),
        }
    }

    /// HEAD's commit as last read; None outside git or before a first commit.
    pub fn commit(&self) -> Option<&str> {
        self.git.as_ref().and_then(|git| git.facts().commit.as_deref())
    }

    /// The text of one attempt's `provenance.json`: started at `started`,
    /// running `argv` with `devices`, `env` being the variables exp sets
    /// for it (over the runner's own).
    pub fn render(
        &self,
        started: &Timestamp,
        argv: &[String],
        devices: Option<&[String]>,
        env: &IndexMap<String, OsString>,
    ) -> Vec<u8> {
        let mut text = String::with_capacity(1024 + self.head.len() + self.git_text.len());
        text.push_str(&self.head);
        // Digits, `-`, `:`, `.`, `T` and `+`: nothing to escape.
        let _ = writeln!(text, "  \"started\": \"{started}\",");
        text.push_str(&self.workdir);
        text.push_str("  \"argv\": ");
        list(&mut text, argv);
        text.push_str("  \"devices\": ");
        match devices {
            Some(devices) => list(&mut text, devices),
            None => text.push_str("null,\n"),
        }
        text.push_str(&self.slurm);
        text.push_str(&self.git_text);
        match self.patterns.is_empty() {
            true => text.push_str("  \"env\": {}\n"),
            false => {
                let mut recorded = self.inherited.clone();
                for (key, value) in env.iter().filter(|(key, _)| matches_any(&self.patterns, key)) {
                    recorded.insert(key.clone(), value.to_string_lossy().into_owned());
                }
                field(&mut text, "env", &recorded);
                // The last field takes no comma.
                text.truncate(text.len() - 2);
                text.push('\n');
            }
        }
        text.push_str("}\n");
        text.into_bytes()
    }

    /// Render the facts just read, and store their patch if it is new.
    fn facts_read(&mut self) -> Result<()> {
        let facts = self.git.as_ref().map(Watched::facts);
        self.git_text.clear();
        field(&mut self.git_text, "git", &facts.map(git_value));
        if let Some(patch) = facts.and_then(|facts| facts.patch.as_ref()) {
            store_patch(&self.experiment_dir, &patch.sha256, &patch.text)?;
        }
        Ok(())
    }
}

/// The largest `provenance.json` read back, in bytes.
const MAX_BYTES: u64 = 4 << 20;

/// A config's latest `provenance.json`, if it ever ran and has one (one
/// that is not a JSON object is warned about, and None).
pub fn latest(store: &Store, name: &str, config: &Config) -> Option<Map<String, Value>> {
    latest_if_run(store, name, config.has_run())
}

/// [`latest`] of a config known only by whether it ever ran
/// ([`Config::has_run`]).
pub fn latest_if_run(store: &Store, name: &str, has_run: bool) -> Option<Map<String, Value>> {
    if !has_run {
        // A folder in its name was left by an earlier config of the name.
        return None;
    }
    let files = store.config_files(name);
    let bytes = files.read(PROVENANCE, MAX_BYTES)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => {
            crate::report::warn_once(format!(
                "{}: not a JSON object; ignored",
                files.dir.join(PROVENANCE).display()
            ));
            None
        }
    }
}

/// `["a", "b"],\n` as pretty JSON one level in (as [`field`] writes it).
fn list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        out.push_str(if i == 0 { "\n    " } else { ",\n    " });
        out.push_str(&serde_json::to_string(item).expect("strings serialize"));
    }
    out.push_str(if items.is_empty() { "],\n" } else { "\n  ],\n" });
}

/// `"  "KEY": VALUE,\n"`, VALUE pretty-printed and indented one level.
fn field(out: &mut String, key: &str, value: &impl Serialize) {
    out.push_str("  ");
    out.push_str(&Value::String(key.to_string()).to_string());
    out.push_str(": ");
    let text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    out.push_str(&text.replace('\n', "\n  "));
    out.push_str(",\n");
}

fn git_value(facts: &Facts) -> Value {
    json!({
        "commit": facts.commit,
        "branch": facts.branch,
        "dirty": facts.dirty,
        "untracked": facts.untracked,
        "patch": facts.patch.as_ref().map(|patch| &patch.sha256),
    })
}

/// The Slurm ids, null outside a Slurm job (no `SLURM_JOB_ID`).
fn slurm_ids(var: impl Fn(&str) -> Option<OsString>) -> Value {
    if var("SLURM_JOB_ID").is_none() {
        return Value::Null;
    }
    let ids = SLURM.iter().map(|(field, name)| {
        (
            field.to_string(),
            var(name).map_or(Value::Null, |v| Value::String(v.to_string_lossy().into_owned())),
        )
    });
    Value::Object(ids.collect())
}

/// The name of the user the runner runs as (else `$USER`, else the uid).
fn user() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => std::env::var("USER").unwrap_or_else(|_| uid.to_string()),
    }
}

/// Write `DIR/patches/SHA.patch` unless it is there: atomically, so a
/// reader (or another runner writing the same) never sees half of it.
fn store_patch(experiment_dir: &Path, sha256: &str, text: &[u8]) -> Result<()> {
    let path = experiment_dir.join(PATCHES);
    let folder = Folder::root(experiment_dir)
        .and_then(|root| root.sub_made(PATCHES))
        .map_err(|err| match crate::store::folder::is_symlink_refusal(&err) {
            true => Error::storage(format!(
                "{}: {}; nothing is written through it",
                path.display(),
                crate::store::config_files::refusal(&path)
            )),
            false => Error::io("cannot create", &path, err),
        })?
        .0;
    let name = format!("{sha256}.patch");
    if folder.has(&name) {
        return Ok(());
    }
    folder.write_atomic(&name, text).map_err(|err| Error::io("cannot write", &folder.join(&name), err))
}

/// Refuse an empty `--record-env` pattern, or one that is no glob (exit 2).
pub fn check_patterns(patterns: &[String]) -> Result<()> {
    for pattern in patterns {
        if pattern.is_empty() {
            return Err(Error::usage("--record-env: an empty pattern; give a name or a glob, e.g. 'CUDA_*'"));
        }
        if let Err(err) = glob::Pattern::new(pattern) {
            return Err(Error::usage(format!("--record-env {pattern:?}: not a glob: {}", err.msg)));
        }
    }
    Ok(())
}

/// Whether a pattern matches every name (`*`, `?*`): it records secrets too.
fn matches_everything(pattern: &str) -> bool {
    pattern.contains('*') && pattern.chars().all(|c| c == '*' || c == '?')
}

/// Whether `name` matches one of the shell globs `patterns` (`*`, `?`,
/// `[A-Z]`), checked by [`check_patterns`].
fn matches_any(patterns: &[String], name: &str) -> bool {
    patterns.iter().filter_map(|pattern| glob::Pattern::new(pattern).ok()).any(|glob| glob.matches(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_a_shell_matches_names() {
        let yes = |p: &str, n: &str| matches_any(&[p.to_string()], n);
        assert!(yes("MY_*", "MY_VAR") && yes("MY_*", "MY_") && !yes("MY_*", "XMY_VAR"));
        assert!(yes("*", "") && yes("*", "ANY") && yes("**", "x"));
        assert!(yes("A?C", "ABC") && !yes("A?C", "AC"));
        assert!(yes("*_ID", "SLURM_JOB_ID") && !yes("*_ID", "SLURM_JOB_IDS"));
        assert!(yes("S*M*_ID", "SLURM_JOB_ID") && !yes("PATH", "PATHS"));
        assert!(yes("[A-C]_*", "B_X") && !yes("[A-C]_*", "D_X"));
        assert!(matches_everything("?*") && matches_everything("*") && !matches_everything("?"));
        assert!(check_patterns(&["".into()]).is_err() && check_patterns(&["X".into()]).is_ok());
        assert!(check_patterns(&["[A-".into()]).is_err());
    }

    #[test]
    fn slurm_ids_are_null_outside_a_job_and_each_null_when_unset() {
        assert_eq!(slurm_ids(|_| None), Value::Null);
        let job = |name: &str| match name {
            "SLURM_JOB_ID" => Some("42".into()),
            "SLURMD_NODENAME" => Some("n1".into()),
            _ => None,
        };
        assert_eq!(
            slurm_ids(job),
            json!({"job_id": "42", "array_job_id": null, "array_task_id": null, "node": "n1"})
        );
    }

    #[test]
    fn a_rendered_file_has_exactly_the_fields_in_order_and_records_only_what_is_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let patterns = vec!["EXP_NAME".to_string(), "NO_SUCH_VAR_*".to_string()];
        let provenance = Provenance::new(tmp.path(), tmp.path(), "h-1-abc", &patterns).unwrap();
        let env = IndexMap::from([
            ("EXP_NAME".to_string(), OsString::from("c1")),
            ("EXP_WORKER".to_string(), OsString::from("0")),
        ]);
        let argv = ["echo".to_string(), "a\"b".to_string()];
        let devices = ["0".to_string(), "1".to_string()];
        let text = provenance.render(&Timestamp::now(), &argv, Some(&devices), &env);
        let value: serde_json::Map<String, Value> = serde_json::from_slice(&text).unwrap();
        let keys: Vec<&str> = value.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "exp_version",
                "host",
                "user",
                "runner",
                "started",
                "workdir",
                "argv",
                "devices",
                "slurm",
                "git",
                "env"
            ]
        );
        assert_eq!(value["argv"], json!(argv));
        assert_eq!(value["devices"], json!(["0", "1"]));
        assert_eq!(value["env"], json!({"EXP_NAME": "c1"}));
        assert_eq!(value["runner"], "h-1-abc");
        assert!(value["git"].is_null(), "a temp dir is in no work tree");
        assert!(text.ends_with(b"}\n"));

        let plain = Provenance::new(tmp.path(), tmp.path(), "r", &[]).unwrap();
        let text = plain.render(&Timestamp::now(), &argv, None, &env);
        let value: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!((value["env"].clone(), value["devices"].clone()), (json!({}), Value::Null));
    }

    #[test]
    fn a_patch_is_stored_once_by_its_sha() {
        let tmp = tempfile::tempdir().unwrap();
        store_patch(tmp.path(), "abc", b"diff\n").unwrap();
        store_patch(tmp.path(), "abc", b"diff\n").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("patches/abc.patch")).unwrap(), b"diff\n");
        assert_eq!(std::fs::read_dir(tmp.path().join("patches")).unwrap().count(), 1);
    }
}
