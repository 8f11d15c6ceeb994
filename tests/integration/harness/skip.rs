//! What this machine can do: each check says, in a note on stderr, which
//! test it skips when the answer is no, so a skip is never silent.

use super::bin;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether the tools can run as Unix user `uid` here (root, `setpriv`,
/// and built binaries that user may reach: a clone in a private folder
/// is not); else a note that `test` is skipped.
pub fn tools_run_as(uid: u32, test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: {test}: skipped, needs root to play another user");
        return false;
    }
    let reuid = format!("--reuid={uid}");
    let regid = format!("--regid={uid}");
    // Through sh: setpriv's own exec may pass where that user's exec of
    // the watchdog, a command or a tool would not.
    let ran = Command::new("setpriv")
        .args([reuid.as_str(), regid.as_str(), "--clear-groups", "sh", "-c", r#"exec "$0" --version"#])
        .arg(bin("exp-run"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !ran.is_ok_and(|status| status.success()) {
        eprintln!(
            "note: {test}: skipped, uid {uid} cannot run {} (setpriv missing, or a private folder)",
            bin("exp-run").display()
        );
        return false;
    }
    true
}

/// Whether the tests run as root (to chown files to another user, say);
/// else a note that `test` is skipped.
pub fn is_root(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("note: {test}: skipped, needs root");
    }
    root
}

/// Whether `program ARGS` runs and succeeds here; else a note that `test`
/// is skipped.
pub fn can_run(program: &str, args: &[&str], test: &str) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !ok {
        eprintln!("note: {test}: skipped, `{program} {}` does not work here", args.join(" "));
    }
    ok
}

/// Whether python3 runs here (CI installs it); else a note that `test` is
/// skipped.
pub fn python3(test: &str) -> bool {
    let ok = Command::new("python3").arg("--version").output().is_ok_and(|out| out.status.success());
    if !ok {
        eprintln!("note: {test}: skipped, python3 is not installed");
    }
    ok
}

/// `$EXP_PYTHON`, else `python3`, if it imports `module`; else what is
/// wrong.
fn python_importing(module: &str) -> Result<String, String> {
    let python = std::env::var("EXP_PYTHON").unwrap_or_else(|_| "python3".into());
    let imports = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    match imports {
        true => Ok(python),
        false => Err(format!("`{python}` cannot import {module} (EXP_PYTHON names another python)")),
    }
}

/// A note that `test` is skipped for `problem`, or a failure when the
/// environment variable `expect` is 1 (CI sets it where it installs what
/// the test needs).
fn skipped<T>(expect: &str, test: &str, problem: &str) -> Option<T> {
    if std::env::var(expect).as_deref() == Ok("1") {
        panic!("{expect}=1 but {problem} (.ci/run installs it)");
    }
    eprintln!("note: {test}: skipped, {problem}");
    None
}

/// The Python of the Optuna example (see [`python_importing`]), or None
/// after a note, or a failure under `EXP_EXPECT_OPTUNA=1`.
pub fn optuna_python(test: &str) -> Option<String> {
    python_importing("optuna").map_or_else(|problem| skipped("EXP_EXPECT_OPTUNA", test, &problem), Some)
}

/// A Python that drives headless Chromium for `tests/browser/`: one that
/// imports playwright, and a system `chromium` (`$EXP_CHROMIUM` or on
/// PATH); else None after a note, or a failure under
/// `EXP_EXPECT_BROWSER=1`.
pub fn browser_python(test: &str) -> Option<String> {
    let chromium = std::env::var_os("EXP_CHROMIUM").map(PathBuf::from).or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|folder| folder.join("chromium"))
            .find(|path| path.is_file())
    });
    match (python_importing("playwright.sync_api"), chromium) {
        (Ok(python), Some(_)) => Some(python),
        (Err(problem), _) => skipped("EXP_EXPECT_BROWSER", test, &problem),
        (Ok(_), None) => skipped("EXP_EXPECT_BROWSER", test, "no chromium (on PATH or $EXP_CHROMIUM)"),
    }
}

/// A file or folder made immutable (`chattr +i`, even for root) until
/// dropped.
pub struct Immutable {
    path: PathBuf,
    recursive: bool,
}

impl Immutable {
    /// `chattr +i PATH`, or None (after a note that `test` is skipped) when
    /// this machine cannot: not root, or a filesystem without the attribute.
    pub fn set(path: &Path, test: &str) -> Option<Immutable> {
        Immutable::chattr(path, false, test)
    }

    /// `chattr -R +i PATH`: the folder and everything in it.
    pub fn set_all(path: &Path, test: &str) -> Option<Immutable> {
        Immutable::chattr(path, true, test)
    }

    fn chattr(path: &Path, recursive: bool, test: &str) -> Option<Immutable> {
        let mut cmd = Command::new("chattr");
        if recursive {
            cmd.arg("-R");
        }
        let done = cmd
            .arg("+i")
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !done {
            eprintln!("note: {test}: skipped, `chattr +i` is not possible here (not root, or no support)");
            return None;
        }
        Some(Immutable { path: path.to_path_buf(), recursive })
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let mut cmd = Command::new("chattr");
        if self.recursive {
            cmd.arg("-R");
        }
        let _ = cmd.arg("-i").arg(&self.path).stderr(Stdio::null()).status();
    }
}
