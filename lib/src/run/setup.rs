//! `exp-run --setup CMD`: a command run once before the pool (`sh -c`, in
//! the commands' working directory), whose `KEY=VALUE` stdout lines are
//! added to every config's environment. If it fails, nothing runs (exit 5).

use crate::error::{Error, Result};
use crate::report::note;
use crate::run::outcome::signal_name;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Run the setup; its stderr goes to ours as it comes, and stdout lines
/// that are not assignments are shown there too.
pub fn run_setup(command: &str, workdir: &Path, experiment_dir: &Path) -> Result<Vec<(String, String)>> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(workdir)
        .env("EXP_DIR", experiment_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| Error::setup(format!("--setup: cannot run sh: {err}")))?;
    if !output.status.success() {
        let how = match (output.status.code(), output.status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by {}", signal_name(signal)),
            _ => "ended abnormally".to_string(),
        };
        return Err(Error::setup(format!("--setup failed ({how}); nothing ran")));
    }
    let mut env = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        match assignment(line) {
            Some((key, value)) => env.push((key.to_string(), value.to_string())),
            None if line.trim().is_empty() => {}
            None => note(format!("setup: {line}")),
        }
    }
    Ok(env)
}

/// `KEY=VALUE` with KEY a valid environment variable name.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once('=')?;
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_assignments_to_valid_names_count() {
        assert_eq!(assignment("DATA=/tmp/a=b"), Some(("DATA", "/tmp/a=b")));
        assert_eq!(assignment("_X1="), Some(("_X1", "")));
        assert_eq!(assignment("1X=2"), None);
        assert_eq!(assignment("loading data..."), None);
        assert_eq!(assignment("a b=c"), None);
    }
}
