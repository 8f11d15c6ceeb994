//! What this machine can do: each check says, in a note on stderr, which
//! test it skips when the answer is no, so a skip is never silent.

use super::bin;
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
